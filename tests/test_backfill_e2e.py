"""End to end: ``archive=1`` backfills of a replica spanning 2006–2025, run as real
``scrapy crawl`` processes: exact exports, resume after ``kill -9``, blocked sources,
concurrent windows on one store, and an hourly crawl that never touches the archive."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.crawling import (
    PROJECT_ROOT,
    collect,
    crawl_command,
    crawl_env,
    crawl_items,
    exported,
    run_crawl,
)
from tests.replica.past import ARCHIVE
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

TODAY = date(2025, 12, 1)
WINDOW = (date(2021, 1, 1), date(2022, 12, 31))  # two years, two template generations
DAY_PAGE = re.compile(rf"^/cn/{ARCHIVE}/(\d{{4}})/(\d{{2}})/(\d{{2}})-")


@pytest.fixture(scope="module")
def site():
    return ReplicaSite(articles=60, seed=5, today=TODAY, years=(2006, 2025), past_per_year=24)


@pytest.fixture
def server(site):
    with ReplicaServer(site) as server:
        yield server
    site.past.status.clear()


def backfill_args(since: date, until: date) -> dict[str, str]:
    return {"since": since.isoformat(), "until": until.isoformat(), "archive": "1"}


def path_of(url: str) -> str:
    return unquote(urlsplit(url).path)


def paths(records: list[dict]) -> list[str]:
    return [path_of(r["url"]) for r in records]


def day_pages(requested: Counter[str]) -> Counter[date]:
    found: Counter[date] = Counter()
    for path, count in requested.items():
        match = DAY_PAGE.match(path)
        if match:
            found[date(*(int(g) for g in match.groups()))] += count
    return found


def days_recorded(data_dir: Path) -> set[date]:
    db = sqlite3.connect(data_dir / "state.sqlite3")
    try:
        return {date.fromisoformat(d) for (d,) in db.execute("SELECT day FROM archive_days")}
    finally:
        db.close()


def assert_clean(result) -> None:
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"


@pytest.mark.inprocess  # a crawl in this process: tests/conftest.py
def test_a_two_year_window_exports_exactly_its_articles_in_every_form(site, server, tmp_path):
    since, until = WINDOW
    result = crawl_items(server.base_url, tmp_path, args=backfill_args(since, until))
    assert_clean(result)
    expected = site.expected_in_window(since, until)
    got = paths(result.records)
    assert len(got) == len(set(got)), "an article was exported twice"
    assert set(got) == expected
    # Every template generation and old URL form of the window is there.
    articles = [site.by_path[p] for p in got]
    assert {a.generation for a in articles} == {"2020", "2022"}
    segments = {p.split("/")[2] for p in got}
    assert {"中國", "專欄檢索", "视频"} <= segments
    assert any(p.count("/") == 2 for p in got), "no dateless wire brief (/cn/<slug>)"
    assert {r["crawl"]["via"] for r in result.records} >= {"archive"}
    # Day pages come from the calendar: none is built, each read once, only in the window.
    requested = server.requested()
    read = day_pages(requested)
    assert set(read) == {d for d in site.past.days_with_items() if since <= d <= until}
    assert set(read.values()) == {1}
    assert not any(p.endswith("--") for p in requested)
    # Nothing outside the window is downloaded: no article, no year page of another year.
    for article in site.past.all_articles():
        if article.path not in expected:
            assert requested[article.path] == 0, article.path
    years = {
        int(m.group(1)) for p in requested if (m := re.match(rf"^/cn/{ARCHIVE}/(\d{{4}})/$", p))
    }
    assert years == {2021, 2022}
    # The run says what it used, and its progress figures reach the manifest.
    stats = result.stats
    assert stats["rfi/archive/source/archive"] == "used"
    assert stats["rfi/archive/source/sitemaps"] == "used"
    assert "backfill sources: archive pages used" in result.log
    total = (until - since).days + 1
    assert stats["rfi/archive/days/total"] == total == stats["rfi/archive/days/recorded"]
    assert days_recorded(tmp_path / "data") == {
        date.fromordinal(since.toordinal() + n) for n in range(total)
    }
    manifest = json.loads(next((tmp_path / "data" / "output").glob("*.manifest.json")).read_text())
    progress = {k: v for k, v in manifest["outcomes"].items() if k.startswith("archive/progress/")}
    assert progress["archive/progress/days_done"] == total
    assert progress["archive/progress/days_total"] == total
    assert progress["archive/progress/articles_exported"] == len(expected)
    assert progress["archive/progress/eta_seconds"] == 0
    assert progress["archive/progress/pages_per_minute"] > 0
    assert f"backfill: {total}/{total} days done, {len(expected)} articles exported" in result.log


@pytest.mark.inprocess  # a crawl in this process: tests/conftest.py
def test_a_finished_backfill_run_again_reads_no_day_and_downloads_nothing(site, server, tmp_path):
    since, until = date(2021, 3, 1), date(2021, 8, 31)
    data = tmp_path / "data"
    first = crawl_items(
        server.base_url, tmp_path / "one", data_dir=data, args=backfill_args(since, until)
    )
    assert_clean(first)
    server.reset_log()
    again = crawl_items(
        server.base_url, tmp_path / "two", data_dir=data, args=backfill_args(since, until)
    )
    assert_clean(again)
    assert again.records == []
    requested = server.requested()
    assert day_pages(requested) == Counter()
    assert not any(p in site.by_path for p in requested), "an article was downloaded again"
    # Every monthly sitemap of a done month is skipped too.
    assert not any("contents_" in p for p in requested)
    assert again.stats["rfi/archive/days/skipped_done"] == (until - since).days + 1


class GatedServer(ReplicaServer):
    """Holds every request once ``hold()`` is true, until released: the crawl stops at a
    chosen point of its progress (then is killed), whatever the machine's load."""

    def __init__(self, site: ReplicaSite, hold: Callable[[int], bool]) -> None:
        super().__init__(site)
        self.hold = hold
        self.served = 0
        self.held = threading.Event()
        self.release = threading.Event()
        self._gate = threading.Lock()

    def route(self, path: str) -> tuple[int, str, str]:
        with self._gate:
            self.served += path != "/robots.txt"
            holding = self.held.is_set() or self.hold(self.served)
            if holding:
                self.held.set()
        if holding:
            self.release.wait(timeout=300)
            return 503, "text/html", "<html><body>gone</body></html>"
        return super().route(path)


def recorded(data_dir: Path) -> set[date]:
    return days_recorded(data_dir) if recorded_count(data_dir) else set()


def recorded_count(data_dir: Path) -> int:
    path = data_dir / "state.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM archive_days").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


@pytest.mark.parametrize("trial", range(4))
def test_killed_at_a_random_point_then_resumed_exports_everything_once(site, tmp_path, trial):
    since, until = WINDOW
    expected = site.expected_in_window(since, until)
    data = tmp_path / "data"
    # Random points (seeded: the same on every run), triggered by progress: after a number
    # of requests (of ~120), or once a number of days (of 730) are recorded as done. Done
    # days reach the store in jumps, every 0.2 s: on an idle machine 355 are on disk by the
    # 60th request, but the last ~190 may land only after the last request, when no request
    # is left to hold. So the day point stays below 360 (a load only adds flushes per request).
    # The day point also waits for a day with items among them: days without items can be
    # recorded first, in a jump, and this trial is about days whose page was read.
    rng = random.Random(1000 + trial)
    if trial % 2:
        days, read = rng.randrange(60, 360), set(site.past.days_with_items())
        hold = lambda served: recorded_count(data) >= days and bool(recorded(data) & read)  # noqa: E731
    else:
        requests = rng.randrange(4, 120)
        hold = lambda served: served > requests  # noqa: E731
    # Durable batches of one record every other trial; done days are written every 0.2 s.
    settings = {"RFI_FSYNC_SECONDS": "0.2", **({"RFI_FSYNC_EVERY": "1"} if trial > 1 else {})}
    with GatedServer(site, hold) as gated:
        command = crawl_command(
            gated.base_url,
            tmp_path / "killed",
            data_dir=data,
            args=backfill_args(since, until),
            settings=settings,
        )
        with open(tmp_path / "killed.log", "w") as log:
            crawl = subprocess.Popen(command, cwd=PROJECT_ROOT, env=crawl_env(), stderr=log)
            try:
                while not gated.held.wait(timeout=1):
                    assert crawl.poll() is None, "the crawl ended before the kill point"
                crawl.kill()  # SIGKILL: no handler runs, nothing is flushed
                crawl.wait(timeout=60)
            finally:
                gated.release.set()
                if crawl.poll() is None:
                    crawl.kill()
    assert crawl.returncode == -9
    done_before = recorded(data)
    if trial % 2:
        # Days whose page was read are among them, not only days without items.
        assert done_before & set(site.past.days_with_items())
    written_before = {path_of(r["url"]) for r in exported(data)}
    with ReplicaServer(site) as server:
        resumed = run_crawl(
            server.base_url, tmp_path / "resumed", data_dir=data, args=backfill_args(since, until)
        )
        requested = server.requested()
    assert_clean(resumed)
    records = exported(data)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "an article was exported twice"
    assert {path_of(r["url"]) for r in records} == expected
    # No day recorded as done is read again; no article written before is downloaded again.
    read_again = set(day_pages(requested)) & done_before
    assert not read_again, sorted(read_again)
    assert not [p for p in written_before if requested[p]]
    assert resumed.stats.get("rfi/archive/days/skipped_done", 0) == len(done_before)
    assert len(days_recorded(data)) == (until - since).days + 1


@pytest.mark.inprocess  # a crawl in this process: tests/conftest.py
def test_blocked_archive_pages_fall_back_to_the_sitemaps_and_say_so(site, server, tmp_path):
    since, until = date(2022, 1, 1), date(2022, 12, 31)
    site.past.status.update(year=403, day=403)
    result = crawl_items(server.base_url, tmp_path, args=backfill_args(since, until))
    assert_clean(result)
    assert set(paths(result.records)) == site.expected_in_window(since, until)
    assert result.stats["rfi/archive/source/archive"] == "blocked"
    assert result.stats["rfi/archive/source/sitemaps"] == "used"
    assert "the archive pages are blocked" in result.log
    assert "backfill sources: archive pages blocked" in result.log
    assert "monthly sitemaps used" in result.log
    # Built day URLs were tried (no calendar) and said so; none could be recorded as done.
    assert "no link to the day page of" in result.log
    assert result.stats.get("rfi/archive/days/recorded", 0) == 0
    assert not days_recorded(tmp_path / "data")


@pytest.mark.inprocess  # a crawl in this process: tests/conftest.py
def test_archive_and_sitemaps_both_blocked_end_blocked_keeping_progress(site, server, tmp_path):
    data = tmp_path / "data"
    part = (date(2022, 1, 1), date(2022, 3, 31))
    first = crawl_items(server.base_url, tmp_path / "one", data_dir=data, args=backfill_args(*part))
    assert_clean(first)
    done = days_recorded(data)
    assert len(done) == (part[1] - part[0]).days + 1
    site.past.status.update(year=403, day=403, index=403, monthly=403)
    blocked = crawl_items(
        server.base_url, tmp_path / "two", data_dir=data, args=backfill_args(part[0], WINDOW[1])
    )
    assert blocked.returncode == 3, blocked.log[-3000:]
    assert "Traceback" not in blocked.log, blocked.log[-3000:]
    assert blocked.stats["finish_reason"] == "blocked"
    assert blocked.stats["rfi/archive/source/archive"] == "blocked"
    assert blocked.stats["rfi/archive/source/sitemaps"] == "blocked"
    assert "every source of the backfill is blocked" in blocked.log
    assert days_recorded(data) == done  # progress kept
    assert blocked.records == []
    manifest = max((data / "output").glob("*.manifest.json"), key=lambda p: p.stat().st_mtime)
    assert json.loads(manifest.read_text())["finish_reason"] == "blocked"


@pytest.mark.inprocess  # a crawl in this process: tests/conftest.py
def test_without_archive_the_hourly_crawl_requests_no_archive_page(site, server, tmp_path):
    result = crawl_items(server.base_url, tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    requested = server.requested()
    archive = [p for p in requested if p.startswith(f"/cn/{ARCHIVE}/") or "index.xml" in p]
    assert archive == [] and not any("contents_" in p for p in requested)
    assert not any(k.startswith("rfi/archive/") for k in result.stats)
    assert not [
        p for p in requested if p in site.by_path and site.by_path[p].generation != "current"
    ]


def test_two_windows_as_concurrent_crawls_on_one_store_never_export_twice(site, server, tmp_path):
    data = tmp_path / "data"
    windows = [(date(2022, 7, 1), date(2023, 12, 31)), (date(2023, 1, 1), date(2024, 12, 31))]
    # The second as the backfill spider: the same crawl under the name the scheduler sees.
    commands = [
        crawl_command(
            server.base_url, tmp_path / "w0", data_dir=data, args=backfill_args(*windows[0])
        ),
        crawl_command(
            server.base_url,
            tmp_path / "w1",
            data_dir=data,
            args={"since": windows[1][0].isoformat(), "until": windows[1][1].isoformat()},
        ),
    ]
    commands[1][commands[1].index("rfi_cn")] = "rfi_cn_backfill"
    crawls = [
        subprocess.Popen(c, cwd=PROJECT_ROOT, env=crawl_env(), stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    logs = [c.communicate(timeout=600)[1] for c in crawls]
    for n, (crawl, log) in enumerate(zip(crawls, logs, strict=True)):
        result = collect(tmp_path / f"w{n}", log, crawl.returncode)
        assert_clean(result)
        window = windows[n]
        assert result.stats["rfi/archive/days/total"] == (window[1] - window[0]).days + 1
    records = exported(data)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "an article was exported twice"
    expected = site.expected_in_window(windows[0][0], windows[1][1])
    assert {path_of(r["url"]) for r in records} == expected
    assert {site.by_path[path_of(r["url"])].generation for r in records} == {"2022", "current"}
    manifests = [json.loads(p.read_text()) for p in (data / "output").glob("*.manifest.json")]
    assert sorted(m["spider"] for m in manifests) == ["rfi_cn", "rfi_cn_backfill"]
