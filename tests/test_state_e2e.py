"""End to end with the state store: liveness that survives a deleted lock file, incremental
crawls on PostgreSQL (password never shown), and ``rfi-state copy`` between backends."""

from __future__ import annotations

import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from rfi_crawler.state import STORE_VERSION, open_store
from rfi_crawler.state.liveness import LEASE_SECONDS
from tests.crawling import PROJECT_ROOT, crawl_env, exported, run_crawl, run_files
from tests.postgres import postgres, state_uri  # noqa: F401 (fixtures)
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite
from tests.test_e2e_incremental import (
    CRASH_SETTINGS,
    assert_finished,
    expected_urls,
    keys,
    start,
    today,
    wait_for_records,
)


def manifests(data: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((data / "output").glob("*.manifest.json"))]


def test_a_live_crawl_whose_lock_file_is_deleted_is_not_recovered(tmp_path, state_uri):  # noqa: F811
    site = ReplicaSite(articles=60, seed=21, today=today())
    site.article_delay = 0.3  # the first crawl outlives the second one's start
    data = tmp_path / "data"
    settings = {"RFI_STATE_URI": state_uri, "CONCURRENT_REQUESTS": "2", "RFI_FSYNC_EVERY": "1"}
    with ReplicaServer(site) as server:
        first = start(server, tmp_path / "first", data, settings=settings)
        wait_for_records(data, first, at_least=3)
        assert first.poll() is None, "the first crawl ended too soon"
        (lock,) = (data / "runs").glob("*.lock")
        lock.unlink()  # anyone may delete it: the run is still alive
        second = run_crawl(server.base_url, tmp_path / "second", data_dir=data, settings=settings)
        _, log = first.communicate(timeout=600)
    assert first.returncode == 0, log[-3000:]
    assert_finished(second)
    assert "rfi/recovery/runs" not in second.stats, second.log[-3000:]
    by_start = sorted(manifests(data), key=lambda m: m["started_at"])
    assert len(by_start) == 2
    # The two runs overlapped: the first was alive when the second opened the store.
    assert by_start[0]["finished_at"] >= by_start[1]["started_at"]
    assert {m["finish_reason"] for m in by_start} == {"finished"}
    records = exported(data)
    assert max(keys(records).values()) == 1, "a version was exported twice"
    assert {r["url"] for r in records} == expected_urls(site)


def test_incremental_crawls_share_a_postgres_store_and_never_show_its_password(
    tmp_path,
    postgres,  # noqa: F811
):
    uri = postgres.new_database()
    site = ReplicaSite(articles=40, seed=13, today=today())
    data = tmp_path / "data"
    settings = {"RFI_STATE_URI": uri}
    with ReplicaServer(site) as server:
        first = run_crawl(server.base_url, tmp_path / "run1", data_dir=data, settings=settings)
        assert_finished(first)
        assert {r["url"] for r in exported(data)} == expected_urls(site)
        second = run_crawl(server.base_url, tmp_path / "run2", data_dir=data, settings=settings)
        assert_finished(second)
        assert second.records == []
        added = site.add_articles(3)
        edited = next(a for a in site.homepage_items()[5:] if a.index != site.disallowed)
        site.edit(edited)
        # A month later (the re-check schedule's clock): the edited article is due again.
        month = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
        settings["RFI_RECHECK_NOW"] = month
        third = run_crawl(server.base_url, tmp_path / "run3", data_dir=data, settings=settings)
        assert_finished(third)
    assert {(r["url"], r["version"]) for r in third.records} == {
        *((a.url, 1) for a in added),
        (edited.url, 2),
    }
    assert not (data / "state.sqlite3").exists()  # the state went to PostgreSQL only
    records = exported(data)
    assert max(keys(records).values()) == 1
    store = open_store(uri)
    try:
        assert store.count() == len({r["id"] for r in records})
        assert store.unfinished_runs() == []
        known = store.known_many([r["url"] for r in records])
        assert {k.id: k.version for k in known.values()} == {
            r["id"]: max(x["version"] for x in records if x["id"] == r["id"]) for r in records
        }
    finally:
        store.close()
    # The password reaches neither the log (Scrapy's "Overridden settings" included), nor
    # the stats, nor a manifest, which records the redacted URI.
    assert "Overridden settings" in first.log
    for result in (first, second, third):
        assert postgres.password not in result.log
        assert postgres.password not in json.dumps(result.stats)
    for manifest in manifests(data):
        assert postgres.password not in json.dumps(manifest)
        assert manifest["settings"]["state_uri"] == uri.replace(postgres.password, "***")


def state_copy(source: str, target: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rfi_crawler.state.cli", "copy", source, target],
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_copy_sqlite_to_postgres_and_back_then_nothing_is_exported_again(
    tmp_path,
    postgres,  # noqa: F811
):
    site = ReplicaSite(articles=40, seed=17, today=today())
    data = tmp_path / "data"
    sqlite_uri = f"sqlite:///{data / 'state.sqlite3'}"
    postgres_uri = postgres.new_database()
    back_uri = f"sqlite:///{tmp_path / 'back.sqlite3'}"
    with ReplicaServer(site) as server:
        assert_finished(run_crawl(server.base_url, tmp_path / "run1", data_dir=data))
        articles = len({r["id"] for r in exported(data)})
        runs = len(run_files(data))

        there = state_copy(sqlite_uri, postgres_uri)
        assert there.returncode == 0, there.stderr
        assert f"articles: {articles} rows → {articles} rows" in there.stdout
        assert f"runs: {runs} rows → {runs} rows" in there.stdout
        assert postgres.password not in there.stdout + there.stderr
        on_postgres = run_crawl(
            server.base_url,
            tmp_path / "run2",
            data_dir=data,
            settings={"RFI_STATE_URI": postgres_uri},
        )
        assert_finished(on_postgres)
        assert on_postgres.records == []
        assert on_postgres.stats["rfi/incremental/skipped_known"] > 0

        back = state_copy(postgres_uri, back_uri)
        assert back.returncode == 0, back.stderr
        assert f"articles: {articles} rows → {articles} rows" in back.stdout
        assert f"runs: {runs + 1} rows → {runs + 1} rows" in back.stdout
        on_sqlite = run_crawl(
            server.base_url, tmp_path / "run3", data_dir=data, settings={"RFI_STATE_URI": back_uri}
        )
        assert_finished(on_sqlite)
        assert on_sqlite.records == []

    again = state_copy(sqlite_uri, postgres_uri)  # never over an existing store
    assert again.returncode == 2
    assert "is not empty" in again.stderr and "Traceback" not in again.stderr
    assert postgres.password not in again.stderr


def test_kill_9_with_a_postgres_store_loses_and_duplicates_nothing(tmp_path, postgres):  # noqa: F811
    uri = postgres.new_database()
    rng = random.Random(4)
    site = ReplicaSite(articles=80, seed=4, today=today() - timedelta(days=21))
    site.article_delay = 0.05
    data = tmp_path / "data"
    settings = {**CRASH_SETTINGS, "RFI_STATE_URI": uri}
    kills = 0
    with ReplicaServer(site) as server:
        for trial in range(4):
            process = start(server, tmp_path / f"killed{trial}", data, settings=settings)
            wait_for_records(data, process, at_least=1)
            time.sleep(rng.uniform(0, 0.6))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=60)
            process.stderr.close()
        final = run_crawl(server.base_url, tmp_path / "final", data_dir=data, settings=settings)
    assert_finished(final)
    assert kills >= 2
    records = exported(data)
    assert max(keys(records).values()) == 1, "a version was exported twice"
    assert {r["url"] for r in records} == expected_urls(site)
    store = open_store(uri)
    try:
        known = store.known_many([r["url"] for r in records])
        assert {k.id: k.version for k in known.values()} == {r["id"]: r["version"] for r in records}
        assert store.unfinished_runs() == []
        crashed = [run for run in store.recent_runs(10) if run.finish_reason == "crashed"]
        assert 2 <= len(crashed) <= kills
    finally:
        store.close()


def test_a_crawl_refuses_a_store_from_a_newer_crawler_and_fails(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "state.sqlite3")
    db.execute("CREATE TABLE articles (id TEXT)")
    db.execute(f"PRAGMA user_version = {STORE_VERSION + 1}")
    db.close()
    site = ReplicaSite(articles=40, seed=3, today=today())
    with ReplicaServer(site) as server:
        refused = run_crawl(server.base_url, tmp_path / "run", data_dir=data)
    assert refused.returncode != 0
    assert f"newer than this crawler's {STORE_VERSION}" in refused.log
    assert "Traceback" not in refused.log
    assert exported(data) == []


def test_a_dead_run_of_another_host_is_left_to_it_and_nothing_is_lost(tmp_path, postgres):  # noqa: F811
    """Node B dies mid-crawl with its run file on its own disk: node A leaves B's run and
    claims alone (it cannot read what B wrote); once B is back, B's next crawl recovers
    them, and the two nodes' files hold every article exactly once."""
    uri = postgres.new_database()
    site = ReplicaSite(articles=80, seed=6, today=today() - timedelta(days=21))
    site.article_delay = 0.05
    data = tmp_path / "data"
    # Synced rarely: B dies holding claims of records not yet synced (or not written).
    settings = {**CRASH_SETTINGS, "RFI_FSYNC_EVERY": "40", "RFI_STATE_URI": uri}
    node_b_disk = tmp_path / "node-b-disk"
    node_b_disk.mkdir()
    with ReplicaServer(site) as server:
        killed = start(server, tmp_path / "b1", data, settings=settings)
        wait_for_records(data, killed, at_least=1)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        killed.stderr.close()
        (b_file,) = run_files(data)
        b_records = list(exported(data))
        # Its run belonged to node B, silent for longer than the lease; its file is there.
        b_file.rename(node_b_disk / b_file.name)
        long_ago = (datetime.now(UTC) - timedelta(seconds=LEASE_SECONDS + 60)).isoformat()
        with psycopg.connect(uri, autocommit=True) as db:
            db.execute(
                "UPDATE runs SET host = 'node-b', heartbeat_at = %s WHERE finished_at IS NULL",
                (long_ago,),
            )
            b_claims = db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
        assert b_claims > 0, "node B died with nothing claimed: nothing to prove"

        on_a = run_crawl(server.base_url, tmp_path / "a", data_dir=data, settings=settings)
        assert_finished(on_a)
        assert on_a.stats.get("rfi/recovery/left_to_host") == 1
        assert "rfi/recovery/runs" not in on_a.stats
        assert not keys(on_a.records) & keys(b_records)  # B's claims were left alone

        # Node B is back: its next crawl finds its dead run and recovers it from its file.
        (node_b_disk / b_file.name).rename(b_file)
        with psycopg.connect(uri, autocommit=True) as db:
            db.execute("UPDATE runs SET host = %s WHERE host = 'node-b'", (socket.gethostname(),))
        on_b = run_crawl(server.base_url, tmp_path / "b2", data_dir=data, settings=settings)
    assert_finished(on_b)
    assert on_b.stats.get("rfi/recovery/runs") == 1
    records = exported(data)
    assert max(keys(records).values()) == 1, "a version was exported twice"
    assert {r["url"] for r in records} == expected_urls(site)
    store = open_store(uri)
    try:
        assert store.unfinished_runs() == []
        assert store.count() == len({r["id"] for r in records})
    finally:
        store.close()


def test_rfi_state_is_installed_as_a_command():
    from importlib.metadata import entry_points

    from rfi_crawler.state import cli

    (script,) = entry_points(group="console_scripts", name="rfi-state")
    assert script.load() is cli.main
    done = subprocess.run(
        [Path(sys.executable).parent / "rfi-state", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "copy" in done.stdout
