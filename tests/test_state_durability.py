"""Which SQLite transactions are durable at COMMIT, and the order that keeps a power cut
from leaving a line on disk whose claim is lost (state/sqlite.py)."""

from __future__ import annotations

import os

from rfi_crawler.export.run_file import RunFileWriter
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.test_export_pipeline import close, export, item, open_pipeline

RUN = "run-1"
NOW = "2026-12-06T10:00:00+00:00"


def record(n: int) -> dict:
    return {"id": f"WBMZ{n}", "url": f"https://www.rfi.fr/cn/x/20261125-{n}",
            "content_hash": f"{n:064x}", "related": []}  # fmt: skip


def traced(store: SqliteStateStore) -> list[str]:
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    return statements


def sync_mode_of_each_transaction(statements: list[str]) -> list[str]:
    """The synchronous mode in force at each COMMIT, in order."""
    mode, modes = None, []
    for statement in statements:
        if statement.startswith("PRAGMA synchronous="):
            mode = statement.split("=", 1)[1]
        elif statement == "COMMIT":
            modes.append(mode)
    return modes


def test_claims_commit_normal_and_commits_full(tmp_path):
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    statements = traced(store)
    store.claim(record(1), RUN, NOW)
    store.claim(record(2), RUN, NOW)
    assert sync_mode_of_each_transaction(statements) == ["NORMAL", "NORMAL"]
    statements.clear()
    assert store.commit([("WBMZ1", 1), ("WBMZ2", 1)], RUN, NOW) == 2
    store.release(RUN)
    assert sync_mode_of_each_transaction(statements) == ["FULL", "FULL"]
    store.close()


def test_flush_fsyncs_the_wal_and_once_its_folder(tmp_path, monkeypatch):
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    store.claim(record(1), RUN, NOW)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store.flush()
    store.claim(record(2), RUN, NOW)
    store.flush()
    wal = str(tmp_path / "state.sqlite3-wal")
    assert synced == [wal, str(tmp_path), wal]
    store.close()


def test_the_export_flushes_claims_before_it_fsyncs_the_run_file(tmp_path, monkeypatch):
    events: list[str] = []
    real_flush, real_sync = SqliteStateStore.flush, RunFileWriter.sync
    real_commit = SqliteStateStore.commit

    def flush(self):
        events.append("flush claims")
        real_flush(self)

    def sync(self):
        events.append("fsync run file")
        real_sync(self)

    def commit(self, keys, run_id, now):
        events.append(f"commit {len(keys)}")
        return real_commit(self, keys, run_id, now)

    monkeypatch.setattr(SqliteStateStore, "flush", flush)
    monkeypatch.setattr(RunFileWriter, "sync", sync)
    monkeypatch.setattr(SqliteStateStore, "commit", commit)
    crawler, pipeline = open_pipeline(tmp_path, RFI_FSYNC_EVERY="2")
    events.clear()  # the run's recovery at open commits nothing of this run
    for n in range(4):
        export(pipeline, item(n))
    assert events == ["flush claims", "fsync run file", "commit 2"] * 2
    close(crawler, pipeline)
