"""The archive backfill on a hostile or changed site: what it cannot read is counted as
failed and read again by a later run, never recorded as done (found by the wave's attack)."""

from __future__ import annotations

import re
import sqlite3
from datetime import date
from pathlib import Path
from urllib.parse import quote

from tests.crawling import run_crawl
from tests.replica.past import ARCHIVE
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite
from tests.test_backfill_e2e import paths

TODAY = date(2025, 12, 1)
SINCE, UNTIL = date(2021, 1, 1), date(2021, 3, 31)
HTML = "text/html; charset=UTF-8"


def site() -> ReplicaSite:
    return ReplicaSite(articles=60, seed=5, today=TODAY, years=(2006, 2025), past_per_year=24)


def backfill(server: ReplicaServer, workdir: Path, data_dir: Path):
    args = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "archive": "1"}
    return run_crawl(server.base_url, workdir, data_dir=data_dir, args=args)


def days_recorded(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "state.sqlite3")
    try:
        return db.execute("SELECT count(*) FROM archive_days").fetchone()[0]
    finally:
        db.close()


class Drifted(ReplicaServer):
    """The 2021 year page and its day pages answer with the site's page but without the
    parts read (a changed layout); no sitemap index. ``drift`` off: the site as it was."""

    drift = True

    def route(self, path: str) -> tuple[int, str, str]:
        if self.drift and re.fullmatch(r"/cn/档案资料库/2021/(\d{2}/\d{2}[^/]*/?)?", path):
            main = '<h1>2021</h1><div class="o-new-calendar"><a href="/cn/x">1</a></div>'
            return 200, HTML, self.site.render_page("https://www.rfi.fr/cn/", "2021", main)
        if self.drift and path == "/sitemaps/cn/index.xml":
            return 404, HTML, "<html>404</html>"
        return super().route(path)


def test_archive_pages_without_what_is_read_are_failures_not_days_done(tmp_path):
    replica = site()
    expected = replica.expected_in_window(SINCE, UNTIL)
    data = tmp_path / "data"
    with Drifted(replica) as server:
        first = backfill(server, tmp_path / "run1", data)
        assert days_recorded(data) == 0  # read again next run, not recorded done
        assert first.stats["rfi/archive/unread_pages"] > 0
        assert "has no calendar (a changed layout?)" in first.log
        server.drift = False
        second = backfill(server, tmp_path / "run2", data)
    assert set(paths(first.records + second.records)) == expected  # none lost


class Moving(ReplicaServer):
    """Paths in ``site.faults`` as ``moved:<target>`` answer 301 to that target."""

    def fault(self, handler, fault: str, path: str, query: str, seen: int) -> bool:
        if fault.startswith("moved:"):
            target = quote(fault.removeprefix("moved:"), safe="/-._~")
            handler.reply(301, "text/html", b"", {"Location": target})
            return True
        return super().fault(handler, fault, path, query, seen)


def test_a_year_page_redirected_to_one_fetched_already_is_read_another_way(tmp_path):
    # The dupefilter drops such a redirect with no callback and no errback: 2022's days
    # were never planned, and the run ended 'finished' with them unread.
    replica = site()
    replica.past.status["index"] = 404  # the archive pages alone
    replica.faults[f"/cn/{ARCHIVE}/2022/"] = f"moved:/cn/{ARCHIVE}/2021/"
    since, until = date(2021, 11, 1), date(2022, 2, 28)
    args = {"since": since.isoformat(), "until": until.isoformat(), "archive": "1"}
    with Moving(replica) as server:
        result = run_crawl(server.base_url, tmp_path, args=args)
    assert result.returncode == 0, result.log[-3000:]
    assert set(paths(result.records)) == replica.expected_in_window(since, until)
    assert "archive page unavailable (redirect_loop)" in result.log


def test_a_monthly_sitemap_redirected_to_the_index_does_not_stop_the_later_months(tmp_path):
    replica = site()
    replica.past.status["year"] = 404  # the monthly sitemaps alone
    replica.faults["/sitemaps/cn/contents_202101.xml"] = "moved:/sitemaps/cn/index.xml"
    since, until = date(2021, 1, 1), date(2021, 6, 30)
    args = {"since": since.isoformat(), "until": until.isoformat(), "archive": "1"}
    with Moving(replica) as server:
        result = run_crawl(server.base_url, tmp_path, args=args)
        requested = server.requested()
    later = [f"/sitemaps/cn/contents_2021{m:02d}.xml" for m in range(2, 7)]
    assert all(requested[path] for path in later), sorted(requested)
    expected_later = {p for p in replica.expected_in_window(since, until) if "/202101" not in p}
    assert set(paths(result.records)) >= expected_later


class DaysDown(ReplicaServer):
    """The year pages answer; every day page answers 500 and the sitemap index 503."""

    def route(self, path: str) -> tuple[int, str, str]:
        if re.fullmatch(rf"/cn/{ARCHIVE}/\d{{4}}/\d\d/\d\d-[^/]*", path):
            return 500, HTML, "<html>500</html>"
        if path == "/sitemaps/cn/index.xml":
            return 503, HTML, "<html>503</html>"
        return super().route(path)


def test_a_backfill_whose_every_source_failed_does_not_end_finished(tmp_path):
    args = {"since": "2021-01-01", "until": "2021-12-31", "archive": "1"}
    with DaysDown(site()) as server:
        result = run_crawl(server.base_url, tmp_path, args=args, settings={"RETRY_TIMES": "0"})
    assert result.records == []
    assert result.returncode == 6, result.log[-3000:]  # unreachable, not finished with exit 0
    assert result.stats["finish_reason"] == "unreachable"
    assert "every source of the backfill failed or is missing" in result.log
