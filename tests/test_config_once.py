"""A crawl parses its ``RFI_*`` settings once: the spider, the extensions, the middlewares
and the pipelines all read that one ``RfiConfig`` (``config.crawl_config``)."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from rfi_crawler.config import RfiConfig
from tests.crawling import crawl_items
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

pytestmark = pytest.mark.inprocess  # crawls in this process: tests/conftest.py

TODAY = date(2025, 12, 1)
BACKFILL = {"archive": "1", "since": "2022-01-01", "until": "2022-01-10"}


@pytest.mark.parametrize("args", [{}, BACKFILL], ids=["hourly", "backfill"])
def test_a_crawl_parses_its_settings_once(tmp_path, monkeypatch, args):
    reads: list[str] = []
    parse = RfiConfig.from_settings.__func__

    def counted(cls: type[RfiConfig], settings: object) -> RfiConfig:
        reads.append(threading.current_thread().name)
        return parse(cls, settings)

    monkeypatch.setattr(RfiConfig, "from_settings", classmethod(counted))
    site = ReplicaSite(articles=40, seed=5, today=TODAY, years=(2021, 2022), past_per_year=12)
    with ReplicaServer(site) as server:
        result = crawl_items(server.base_url, tmp_path, args=args)
    assert result.returncode == 0, result.log[-3000:]
    assert result.records, result.log[-3000:]
    if args:
        assert result.stats["rfi/archive/source/archive"] == "used"
    # The command's check of its arguments comes first, in this thread (as `scrapy crawl`
    # checks them before it starts the crawl); then the crawl itself parses once.
    assert reads == [threading.current_thread().name, "twisted-reactor"]
