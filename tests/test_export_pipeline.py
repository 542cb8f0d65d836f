"""The export pipeline on its own: versions, unchanged drops, a disk that fills up, a store
that another crawl holds locked."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import threading

import pytest
from scrapy.exceptions import DropItem

from rfi_crawler import signals as rfi_signals
from rfi_crawler.export.run_file import RunFileWriter, iter_records
from rfi_crawler.items import ArticleItem
from rfi_crawler.pipelines import ExportPipeline
from rfi_crawler.run import CrawlRun
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.crawling import built_crawler


def sync(awaitable):
    async def awaited():
        return await awaitable

    return asyncio.run(awaited())


def item(n: int, text: str = "正文") -> ArticleItem:
    return ArticleItem(
        id=f"WBMZ{n}",
        url=f"https://www.rfi.fr/cn/x/20261125-{n}",
        content_hash=f"{n:02d}{text}".encode().hex().ljust(64, "0")[:64],
        published_at="2026-11-25T08:00:00+00:00",
        title=f"t{n}",
        body=text,
    )


def open_pipeline(tmp_path, **settings):
    crawler = built_crawler({"RFI_DATA_DIR": str(tmp_path), **settings})
    pipeline = ExportPipeline.from_crawler(crawler)
    crawler.get_extension(CrawlRun).spider_opened(crawler.spider)
    return crawler, pipeline


def close(crawler, pipeline, reason="finished"):
    sync(pipeline.close_spider())
    crawler.get_extension(CrawlRun).close(reason)


def export(pipeline, record):
    return sync(pipeline.process_item(record))


def test_versions_and_unchanged_records(tmp_path):
    crawler, pipeline = open_pipeline(tmp_path, RFI_FSYNC_EVERY="2")
    assert [export(pipeline, item(n)).version for n in range(3)] == [1, 1, 1]
    close(crawler, pipeline)
    crawler, pipeline = open_pipeline(tmp_path)
    with pytest.raises(DropItem, match="unchanged: WBMZ0"):
        export(pipeline, item(0))
    assert export(pipeline, item(1, "改过的正文")).version == 2
    close(crawler, pipeline)
    assert crawler.stats.get_value("rfi/incremental/unchanged") == 1
    assert crawler.stats.get_value("rfi/exported/changed") == 1


def test_a_version_with_another_url_is_counted(tmp_path):
    crawler, pipeline = open_pipeline(tmp_path)
    export(pipeline, item(1))
    close(crawler, pipeline)
    crawler, pipeline = open_pipeline(tmp_path)
    moved = item(1)
    moved.url = "https://www.rfi.fr/cn/y/20261125-1"  # a move, or a page naming its id
    moved.content_hash = "f" * 64
    assert "url" in export(pipeline, moved).changed_fields
    close(crawler, pipeline)
    assert crawler.stats.get_value("rfi/exported/url_changed") == 1


def test_records_that_arrive_together_are_claimed_in_one_store_transaction(tmp_path, monkeypatch):
    crawler, pipeline = open_pipeline(tmp_path, RFI_FSYNC_EVERY="3")
    batches = []
    claim_many = SqliteStateStore.claim_many

    def spy(self, claims, run_id):
        batches.append([record["id"] for record, _ in claims])
        return claim_many(self, claims, run_id)

    monkeypatch.setattr(SqliteStateStore, "claim_many", spy)

    async def together():
        return await asyncio.gather(*(pipeline.process_item(item(n)) for n in range(5)))

    assert [exported.version for exported in sync(together())] == [1] * 5
    close(crawler, pipeline)
    assert batches == [[f"WBMZ{n}" for n in range(5)]]
    run = crawler.get_extension(CrawlRun)
    assert [r["id"] for _, r in iter_records(run.output_path)] == [f"WBMZ{n}" for n in range(5)]
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    try:
        assert store.count() == 5
    finally:
        store.close()


def test_a_full_disk_stops_the_run_and_leaves_store_and_files_in_agreement(tmp_path, monkeypatch):
    crawler, pipeline = open_pipeline(tmp_path, RFI_FSYNC_EVERY="1")
    written = []
    real_write = RunFileWriter.write

    def write(self, record):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(record["id"])
        real_write(self, record)

    monkeypatch.setattr(RunFileWriter, "write", write)
    closed = []
    monkeypatch.setattr(pipeline, "_close_crawl", closed.append)
    for n in range(3):
        export(pipeline, item(n))
    with pytest.raises(DropItem, match="not written: WBMZ3"):
        export(pipeline, item(3))
    with pytest.raises(DropItem, match="the run stopped exporting"):
        export(pipeline, item(4))
    close(crawler, pipeline, "output_error")
    assert crawler.stats.get_value("rfi/failed/output_error") == 1
    assert closed == ["output_error"]

    run = crawler.get_extension(CrawlRun)
    in_file = {record["id"] for _, record in iter_records(run.output_path)}
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    try:
        known = store.known_many([item(n).url for n in range(5)])
        assert {k.id for k in known.values()} == in_file == {"WBMZ0", "WBMZ1", "WBMZ2"}
        assert store.db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    finally:
        store.close()
    # The next run exports what the full disk kept out.
    monkeypatch.setattr(RunFileWriter, "write", real_write)
    crawler, pipeline = open_pipeline(tmp_path)
    assert export(pipeline, item(3)).version == 1
    close(crawler, pipeline)


def hold_write_lock(path, until: threading.Event) -> threading.Thread:
    """Another crawl's open write transaction on the store, until ``until`` is set."""
    held = threading.Event()

    def hold():
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        held.set()
        until.wait(30)
        db.execute("ROLLBACK")
        db.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(30)
    return thread


def test_waiting_for_another_crawls_write_lock_does_not_freeze_the_loop(tmp_path):
    crawler, pipeline = open_pipeline(tmp_path, RFI_STATE_TIMEOUT="30")
    release = threading.Event()
    holder = hold_write_lock(tmp_path / "state.sqlite3", release)
    ticks = []

    async def scenario():
        claim = asyncio.ensure_future(pipeline.process_item(item(1)))
        # The loop keeps turning while the claim waits for the lock (progress, not time).
        while len(ticks) < 20:
            ticks.append(claim.done())
            await asyncio.sleep(0.01)
        release.set()
        return await claim

    exported_item = asyncio.run(scenario())
    holder.join()
    assert ticks == [False] * 20  # the claim waited, the loop did not
    assert exported_item.version == 1
    close(crawler, pipeline)


def test_a_store_lock_held_past_the_timeout_stops_the_run_with_state_error(tmp_path):
    crawler, pipeline = open_pipeline(tmp_path, RFI_STATE_TIMEOUT="0.2")
    failures = []

    def store_failed(error):
        failures.append(error)

    crawler.signals.connect(store_failed, rfi_signals.store_failed)
    release = threading.Event()
    holder = hold_write_lock(tmp_path / "state.sqlite3", release)
    try:
        with pytest.raises(DropItem, match="stayed locked by another crawl"):
            export(pipeline, item(1))
        with pytest.raises(DropItem, match="the run stopped exporting"):
            export(pipeline, item(2))
    finally:
        release.set()
        holder.join()
    assert len(failures) == 1  # one signal: the run stops once, with state_error
    close(crawler, pipeline, "state_error")


def test_a_corrupt_store_mid_run_stops_the_run_with_state_error(tmp_path, monkeypatch):
    crawler, pipeline = open_pipeline(tmp_path)
    failures = []

    def store_failed(error):
        failures.append(error)

    crawler.signals.connect(store_failed, rfi_signals.store_failed)
    export(pipeline, item(1))

    def corrupt(self, *args):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(SqliteStateStore, "claim_many", corrupt)
    with pytest.raises(DropItem, match="malformed") as dropped:
        export(pipeline, item(2))
    assert dropped.value.outcome == "failed/state_error"
    assert [str(error) for error in failures] == ["database disk image is malformed"]
    close(crawler, pipeline, "state_error")
    assert {r["id"] for _, r in iter_records(crawler.get_extension(CrawlRun).output_path)} == {
        "WBMZ1"
    }
