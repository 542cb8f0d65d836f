"""End-to-end: scheduled runs over a changing replica, crashes, pause/resume, two crawls
sharing one state store."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from rfi_crawler.export.run_file import file_sha256, iter_records
from rfi_crawler.schema import SCHEMA_VERSION
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.crawling import (
    PROJECT_ROOT,
    collect,
    crawl_command,
    crawl_env,
    crawl_items,
    exported,
    run_crawl,
    run_files,
)
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite, canonical

REFRESH_DAYS = 3


def today() -> date:
    return datetime.now(UTC).date()


def assert_finished(result) -> None:
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log, result.log[-3000:]


def keys(records) -> Counter:
    return Counter((r["id"], r["version"]) for r in records)


def expected_urls(site: ReplicaSite) -> set[str]:
    return {canonical(path) for path in site.expected_depths()}


def later(days: int = 0) -> dict[str, str]:
    """The re-check schedule's clock (RFI_RECHECK_NOW) this many days after START."""
    return {"RFI_RECHECK_NOW": (START + timedelta(days=days)).isoformat()}


START = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.inprocess  # a crawl in this process: tests/conftest.py
def test_scheduled_runs_export_only_what_is_new_or_changed(tmp_path):
    site = ReplicaSite(articles=60, seed=11, today=today())
    data = tmp_path / "data"
    with ReplicaServer(site) as server:
        first = crawl_items(server.base_url, tmp_path / "run1", data_dir=data, settings=later())
        assert_finished(first)
        records = exported(data)
        assert {r["url"] for r in records} == expected_urls(site)
        assert {r["version"] for r in records} == {1}
        assert first.stats["rfi/exported/new"] == len(records)
        # -O still works, next to the run file, with the same records.
        assert sorted(r["url"] for r in first.records) == sorted(r["url"] for r in records)

        manifest = json.loads(next((data / "output").glob("*.manifest.json")).read_text())
        run_file = run_files(data)[0]
        assert manifest["output"] == run_file.name
        assert manifest["records"] == len(records)
        assert manifest["sha256"] == file_sha256(run_file)
        assert manifest["finish_reason"] == "finished"
        assert manifest["schema_version"] == SCHEMA_VERSION
        assert manifest["outcomes"]["exported/new"] == len(records)
        assert set(manifest["versions"]) == {"rfi_crawler", "scrapy", "python"}

        # Second run at the same moment, nothing changed: listings are read, no re-check
        # slot has passed, so no known article is downloaded again.
        server.reset_log()
        second = crawl_items(server.base_url, tmp_path / "run2", data_dir=data, settings=later())
        assert_finished(second)
        assert second.records == []
        assert len(exported(data)) == len(records)
        requested = server.requested()
        assert requested["/cn/"] == 1 and requested["/cn/rss"] == 1
        for article in site.articles:
            if requested[article.path]:
                assert (today() - article.published.date()).days <= REFRESH_DAYS, article.path
        assert second.stats["rfi/incremental/skipped_known"] > 0
        assert second.stats.get("rfi/recheck/planned", 0) == 0
        assert second.stats.get("rfi/incremental/unchanged", 0) == 0

        # The site adds 5 articles and edits one; a month later every article seen young
        # is due for a re-check (one fetch covers every slot passed).
        added = site.add_articles(5)
        edited = next(a for a in site.homepage_items()[5:] if a.index != site.disallowed)
        site.edit(edited)
        third = crawl_items(server.base_url, tmp_path / "run3", data_dir=data, settings=later(30))
        assert_finished(third)
        new_file = run_files(data)[-1]
        changes = [record for _, record in iter_records(new_file)]
        assert {r["url"] for r in changes} == {a.url for a in added} | {edited.url}
        versions = {r["url"]: r["version"] for r in changes}
        assert versions[edited.url] == 2
        assert {versions[a.url] for a in added} == {1}
        latest = next(r for r in changes if r["url"] == edited.url)
        want = site.expected_record(edited)
        assert {field: latest[field] for field in want} == want

        # refresh=1 re-reads everything: an old article's edit is found, nothing else moves.
        old = next(
            a
            for a in site.articles
            if (today() - a.published.date()).days > REFRESH_DAYS + 1
            and a.url in expected_urls(site)
        )
        site.edit(old)
        fourth = crawl_items(
            server.base_url, tmp_path / "run4", data_dir=data, args={"refresh": "1"}
        )
        assert_finished(fourth)
        assert [(r["url"], r["version"]) for r in fourth.records] == [(old.url, 2)]

    store = SqliteStateStore(data / "state.sqlite3")
    try:
        everything = exported(data)
        assert max(keys(everything).values()) == 1  # no version exported twice
        latest_versions: dict[str, int] = {}
        for record in everything:
            latest_versions[record["id"]] = max(
                latest_versions.get(record["id"], 0), record["version"]
            )
        known = store.known_many([record["url"] for record in everything])
        assert {k.id: k.version for k in known.values()} == latest_versions
        assert store.count() == len(latest_versions)
    finally:
        store.close()


@pytest.mark.inprocess  # a crawl in this process: tests/conftest.py
def test_gzip_run_files(tmp_path):
    site = ReplicaSite(articles=40, seed=3, today=today())
    with ReplicaServer(site) as server:
        result = crawl_items(
            server.base_url,
            tmp_path,
            settings={"RFI_OUTPUT_COMPRESSION": "gzip"},
            args={"related_depth": "0"},
        )
    assert_finished(result)
    (run_file,) = run_files(tmp_path / "data")
    assert run_file.name.endswith(".jsonl.gz")
    assert {r["url"] for r in exported(tmp_path / "data")} == {
        canonical(p) for p in site.expected_depths(related_depth=0)
    }


def start(server, workdir, data, **kwargs) -> subprocess.Popen:
    command = crawl_command(server.base_url, workdir, data_dir=data, **kwargs)
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_records(data, process: subprocess.Popen, at_least: int) -> None:
    """Until the run file this process writes holds ``at_least`` bytes-worth of lines."""
    before = {path: path.stat().st_size for path in run_files(data)}
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        new = [p for p in run_files(data) if p not in before]
        if new and new[0].read_bytes().count(b"\n") >= at_least:
            return
        time.sleep(0.02)


CRASH_SETTINGS = {"RFI_FSYNC_EVERY": "3", "CONCURRENT_REQUESTS": "4"}


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path, seed):
    rng = random.Random(seed)
    # Dated three weeks ago: every known article is skipped by later runs, so the crawl
    # must go on through their stored related links to reach what the killed runs missed.
    site = ReplicaSite(articles=120, seed=seed, today=today() - timedelta(days=21))
    site.article_delay = 0.05
    data = tmp_path / "data"
    kills = 0
    with ReplicaServer(site) as server:
        for trial in range(6):
            process = start(server, tmp_path / f"killed{trial}", data, settings=CRASH_SETTINGS)
            # Kill at a random point of this run's writing, chosen by its progress (records
            # written, batches of 3 between fsyncs), not by a clock: a busy machine or a
            # faster crawl must not let a run finish before its kill. Each run stops
            # within a few records, so every one of them still has work when killed.
            wait_for_records(data, process, at_least=rng.randint(1, 9))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=60)
            process.stderr.close()
        final = run_crawl(
            server.base_url, tmp_path / "final", data_dir=data, settings=CRASH_SETTINGS
        )
    assert_finished(final)
    assert kills >= 3
    records = exported(data)  # raises on any invalid line other than a truncated last one
    assert max(keys(records).values()) == 1, "a version was exported twice"
    assert {r["url"] for r in records} == expected_urls(site)
    store = SqliteStateStore(data / "state.sqlite3")
    try:
        known = store.known_many([r["url"] for r in records])
        assert {k.id: k.version for k in known.values()} == {r["id"]: r["version"] for r in records}
        assert store.count() == len(known)
        assert store.unfinished_runs() == []
        crashed = store.db.execute(
            "SELECT COUNT(*) FROM runs WHERE finish_reason = 'crashed'"
        ).fetchone()[0]
        # Every run killed before it finished was found and recovered (a kill can also
        # land after a run has finished, while its process exits).
        assert 3 <= crashed <= kills
    finally:
        store.close()


def test_a_recovered_run_stamps_the_store_with_the_runs_clock(tmp_path):
    """Under ``RFI_RECHECK_NOW`` the store's check and version times are that moment,
    those of the lines a killed run had written (committed by the next run) included."""
    site = ReplicaSite(articles=100, seed=3, today=today())
    site.article_delay = 0.05
    data = tmp_path / "data"
    moment = "2031-05-06T07:08:09+00:00"
    # No sync before the kill: the lines written are committed by the next run's recovery.
    settings = {"RFI_FSYNC_EVERY": "1000", "RFI_FSYNC_SECONDS": "3600"}
    settings |= {"CONCURRENT_REQUESTS": "4", "RFI_RECHECK_NOW": moment}
    with ReplicaServer(site) as server:
        process = start(server, tmp_path / "killed", data, settings=settings)
        wait_for_records(data, process, at_least=4)
        assert process.poll() is None, "the run ended before it was killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        process.stderr.close()
        final = run_crawl(server.base_url, tmp_path / "final", data_dir=data, settings=settings)
    assert_finished(final)
    assert final.stats["rfi/recovery/committed"] >= 1
    store = SqliteStateStore(data / "state.sqlite3")
    try:
        times = store.db.execute(
            "SELECT DISTINCT first_seen, last_seen, checked_at FROM articles"
        ).fetchall()
        detected = store.db.execute("SELECT DISTINCT detected_at FROM versions").fetchall()
    finally:
        store.close()
    assert times == [(moment, moment, moment)]
    assert detected == [(moment,)]


def test_pause_and_resume_with_jobdir(tmp_path):
    site = ReplicaSite(articles=60, seed=5, today=today())
    site.article_delay = 0.1
    data, jobdir = tmp_path / "data", tmp_path / "job"
    settings = {"JOBDIR": str(jobdir), "CONCURRENT_REQUESTS": "2", "RFI_FSYNC_EVERY": "1"}
    with ReplicaServer(site) as server:
        process = start(server, tmp_path / "part1", data, settings=settings)
        wait_for_records(data, process, at_least=5)
        assert process.poll() is None, "the crawl ended before it could be paused"
        process.send_signal(signal.SIGINT)  # Ctrl-C: Scrapy stops gracefully, keeps JOBDIR
        _, log = process.communicate(timeout=120)
        part1 = collect(tmp_path / "part1", log, process.returncode)
        assert part1.stats["finish_reason"] == "shutdown", log[-2000:]
        paused_with = len(exported(data))
        assert 0 < paused_with < len(expected_urls(site))
        part2 = run_crawl(server.base_url, tmp_path / "part2", data_dir=data, settings=settings)
    assert_finished(part2)
    records = exported(data)
    assert max(keys(records).values()) == 1
    assert {r["url"] for r in records} == expected_urls(site)


def test_two_crawls_sharing_one_store_never_export_a_version_twice(tmp_path):
    site = ReplicaSite(articles=60, seed=9, today=today())
    site.article_delay = 0.01
    data = tmp_path / "data"
    with ReplicaServer(site) as server:
        crawls = [start(server, tmp_path / f"crawl{n}", data) for n in range(2)]
        logs = [process.communicate(timeout=240)[1] for process in crawls]
    for process, log in zip(crawls, logs, strict=True):
        assert process.returncode == 0, log[-2000:]
        assert "Traceback" not in log, log[-2000:]
    records = exported(data)
    # Both runs are recorded; which one exports what depends on timing (under load one may
    # claim everything first and, exporting nothing, leave no run file).
    manifests = [json.loads(p.read_text()) for p in (data / "output").glob("*.manifest.json")]
    assert sorted(m["finish_reason"] for m in manifests) == ["finished", "finished"]
    assert sum(m["records"] for m in manifests) == len(records)
    assert max(keys(records).values()) == 1
    assert {r["url"] for r in records} == expected_urls(site)


def hold_lock(path, seconds: float, until: threading.Event | None = None) -> threading.Thread:
    """Another process's long write: an exclusive transaction on the store, for ``seconds``
    or until ``until`` is set."""
    ready = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        ready.set()
        if until is None:
            time.sleep(seconds)
        else:
            until.wait(seconds)
        db.execute("COMMIT")
        db.close()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait(10)
    return thread


def test_a_crawl_waits_for_a_store_another_process_holds(tmp_path):
    site = ReplicaSite(articles=40, seed=12, today=today())
    data = tmp_path / "data"
    with ReplicaServer(site) as server:
        assert_finished(
            run_crawl(server.base_url, tmp_path / "a", data_dir=data, args={"related_depth": "0"})
        )
        holder = hold_lock(data / "state.sqlite3", 3)
        waited = run_crawl(
            server.base_url,
            tmp_path / "b",
            data_dir=data,
            settings={"RFI_STATE_TIMEOUT": "30"},
            args={"related_depth": "1"},
        )
        holder.join()
    assert_finished(waited)
    assert len(exported(data)) == len({r["url"] for r in exported(data)})


def test_a_store_locked_too_long_fails_clearly_and_stays_intact(tmp_path):
    site = ReplicaSite(articles=40, seed=12, today=today())
    data = tmp_path / "data"
    with ReplicaServer(site) as server:
        assert_finished(
            run_crawl(server.base_url, tmp_path / "a", data_dir=data, args={"related_depth": "0"})
        )
        before = len(exported(data))
        # Held until the refused crawl has ended (progress, not a guess at its duration).
        done = threading.Event()
        holder = hold_lock(data / "state.sqlite3", 120, until=done)
        refused = run_crawl(
            server.base_url, tmp_path / "b", data_dir=data, settings={"RFI_STATE_TIMEOUT": "1"}
        )
        done.set()
        holder.join()
        assert refused.returncode == 7, refused.log[-3000:]  # state_error
        assert "stayed locked by another crawl" in refused.log
        assert "Traceback" not in refused.log, refused.log[-3000:]
        db = sqlite3.connect(data / "state.sqlite3")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
        assert len(exported(data)) == before
        assert_finished(run_crawl(server.base_url, tmp_path / "c", data_dir=data))
    records = exported(data)
    assert {r["url"] for r in records} == expected_urls(site)
    assert max(keys(records).values()) == 1


def test_a_store_locked_mid_run_stops_the_run_with_state_error(tmp_path):
    """Another process takes the store's write lock once the run is under way and keeps
    it past RFI_STATE_TIMEOUT: the run stops with state_error and exit 7, not 'finished'
    with its articles silently cancelled; the next run settles what the first wrote."""
    site = ReplicaSite(articles=40, seed=12, today=today())
    site.article_delay = 0.2  # a run long enough to be caught mid-way
    data = tmp_path / "data"
    release = threading.Event()
    with ReplicaServer(site) as server:
        crawl = subprocess.Popen(
            crawl_command(
                server.base_url, tmp_path / "a", data_dir=data, settings={"RFI_STATE_TIMEOUT": "1"}
            ),
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        head = []
        for line in crawl.stderr:  # the run has registered itself in the store
            head.append(line)
            if "[rfi_crawler.run] INFO: run " in line:
                break
        ready = threading.Event()

        def hold() -> None:
            db = sqlite3.connect(data / "state.sqlite3", isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            ready.set()
            release.wait(120)
            db.execute("ROLLBACK")
            db.close()

        holder = threading.Thread(target=hold)
        holder.start()
        assert ready.wait(30)
        try:
            log = "".join(head) + crawl.communicate(timeout=120)[1]
        finally:
            release.set()
            holder.join()
        result = collect(tmp_path / "a", log, crawl.returncode)
        assert result.returncode == 7, log[-3000:]
        assert result.stats["finish_reason"] == "state_error"
        assert "Traceback" not in log, log[-3000:]
        assert sum("state store failed mid-run" in line for line in log.splitlines()) == 1
        manifest = json.loads(next((data / "output").glob("*.manifest.json")).read_text())
        assert manifest["finish_reason"] == "state_error"
        written = exported(data)
        site.article_delay = 0.0
        assert_finished(run_crawl(server.base_url, tmp_path / "b", data_dir=data))
    records = exported(data)
    assert {r["url"] for r in records} == expected_urls(site)
    assert max(keys(records).values()) == 1  # nothing the first run wrote came twice
    assert len(records) >= len(written)
