"""The export pipeline on its own: versions, unchanged drops, and a disk that fills up."""

from __future__ import annotations

import errno

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from rfi_crawler import settings as project_settings
from rfi_crawler.export.run_file import RunFileWriter, iter_records
from rfi_crawler.items import ArticleItem
from rfi_crawler.pipelines import ExportPipeline
from rfi_crawler.run import CrawlRun
from rfi_crawler.spiders.rfi_cn import RfiCnSpider
from rfi_crawler.state.sqlite import SqliteStateStore


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
    values = {k: v for k, v in vars(project_settings).items() if k.isupper()}
    crawler = get_crawler(RfiCnSpider, {**values, "RFI_DATA_DIR": str(tmp_path), **settings})
    crawler.stats.open_spider()
    pipeline = ExportPipeline.from_crawler(crawler)
    pipeline.open_spider()
    return crawler, pipeline


def close(crawler, pipeline, reason="finished"):
    pipeline.close_spider()
    CrawlRun.of(crawler).close(reason)


def test_versions_and_unchanged_records(tmp_path):
    crawler, pipeline = open_pipeline(tmp_path, RFI_FSYNC_EVERY="2")
    assert [pipeline.process_item(item(n)).version for n in range(3)] == [1, 1, 1]
    close(crawler, pipeline)
    crawler, pipeline = open_pipeline(tmp_path)
    with pytest.raises(DropItem, match="unchanged: WBMZ0"):
        pipeline.process_item(item(0))
    assert pipeline.process_item(item(1, "改过的正文")).version == 2
    close(crawler, pipeline)
    assert crawler.stats.get_value("rfi/incremental/unchanged") == 1
    assert crawler.stats.get_value("rfi/exported/changed") == 1


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
        pipeline.process_item(item(n))
    with pytest.raises(DropItem, match="not written: WBMZ3"):
        pipeline.process_item(item(3))
    with pytest.raises(DropItem, match="the run file failed"):
        pipeline.process_item(item(4))
    close(crawler, pipeline, "output_error")
    assert crawler.stats.get_value("rfi/failed/output_error") == 1
    assert closed == ["output_error"]

    run = CrawlRun.of(crawler)
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
    assert pipeline.process_item(item(3)).version == 1
    close(crawler, pipeline)
