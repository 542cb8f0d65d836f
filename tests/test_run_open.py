"""A run that cannot take its lock file stops in one line, its store closed, not open."""

from __future__ import annotations

import logging

import pytest
from scrapy.exceptions import CloseSpider

from rfi_crawler import run as run_module
from rfi_crawler.run import CrawlRun
from rfi_crawler.store_errors import STATE_ERROR
from tests.crawling import built_crawler


def test_a_run_folder_it_cannot_use_stops_the_run_and_closes_the_store(
    tmp_path, monkeypatch, caplog
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "runs").write_text("a file where the run locks go")  # root may write anywhere
    opened = []

    def recording_open_store(uri, timeout):
        opened.append(real_open_store(uri, timeout))
        return opened[-1]

    real_open_store = run_module.open_store
    monkeypatch.setattr(run_module, "open_store", recording_open_store)
    crawler = built_crawler(
        {"RFI_DATA_DIR": str(data), "RFI_STATE_URI": str(tmp_path / "state.sqlite3")}
    )
    run = crawler.get_extension(CrawlRun)
    with caplog.at_level(logging.ERROR), pytest.raises(CloseSpider) as stopped:
        run.spider_opened(crawler.spider)
    assert stopped.value.reason == STATE_ERROR
    assert run.store is None and run._lock is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("run folder unusable, nothing crawled")
    assert str(data / "runs") in errors[0]
    assert len(opened) == 1
    with pytest.raises(Exception, match="closed"):
        opened[0].unfinished_runs()  # the store it opened was closed
