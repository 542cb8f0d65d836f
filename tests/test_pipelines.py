"""Item pipelines: the date window and within-run deduplication."""

from __future__ import annotations

import logging

import pytest
from scrapy.exceptions import DropItem

from rfi_crawler.items import ArticleItem
from rfi_crawler.pipelines import DateWindowPipeline, DuplicateArticlePipeline
from rfi_crawler.run import CrawlRun
from tests.crawling import built_crawler


def test_duplicates_are_dropped_with_their_id_and_counted(caplog):
    crawler = built_crawler()
    pipeline = DuplicateArticlePipeline.from_crawler(crawler)
    first = ArticleItem(id="WBMZ1-RFI-CN-20251130", url="https://www.rfi.fr/cn/a/20251130-x")
    assert pipeline.process_item(first) is first
    with pytest.raises(DropItem, match="duplicate: WBMZ1-RFI-CN-20251130"):
        pipeline.process_item(ArticleItem(id=first.id, url=first.url))  # the same page again
    assert "two URLs give" not in caplog.text
    # Another URL with the same id: one article under two URLs, or a page naming another
    # article's id (docs/record.md): counted apart and said at WARNING.
    with caplog.at_level(logging.WARNING), pytest.raises(DropItem):
        pipeline.process_item(ArticleItem(id=first.id, url="https://www.rfi.fr/cn/b/20251130-x"))
    assert crawler.stats.get_value("rfi/dedup/duplicate_id") == 2
    assert crawler.stats.get_value("rfi/dedup/id_of_another_url") == 1
    assert "two URLs give article id WBMZ1-RFI-CN-20251130: https://www.rfi.fr/cn/b/" in caplog.text


def test_records_outside_the_window_are_dropped_and_counted(tmp_path):
    crawler = built_crawler({"RFI_DATA_DIR": str(tmp_path)}, since="2025-11-10", until="2025-11-20")
    pipeline = DateWindowPipeline.from_crawler(crawler)
    run = crawler.get_extension(CrawlRun)
    run.spider_opened(crawler.spider)  # the window reaches the pipeline through the run
    inside = ArticleItem(id="a", published_at="2025-11-15T08:00:00+00:00")
    assert pipeline.process_item(inside) is inside
    with pytest.raises(DropItem, match="outside date window"):
        pipeline.process_item(ArticleItem(id="b", published_at="2025-11-21T00:10:00+00:00"))
    assert crawler.stats.get_value("rfi/skipped/outside_window") == 1
    # Without its date, a record goes on to validation, which drops it as invalid.
    undated = ArticleItem(id="c", published_at=None)
    assert pipeline.process_item(undated) is undated
    assert crawler.stats.get_value("rfi/skipped/outside_window") == 1
    run.close("finished")
