"""The spider finds the run's components through the crawler (``get_extension``), once, at
``spider_opened``: the refresh policy and, with archive=1, the backfill. The extensions
set nothing on the spider."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from scrapy import signals
from scrapy.crawler import AsyncCrawlerRunner
from scrapy.utils.test import get_reactor_settings

from rfi_crawler.backfill_api import Backfill
from rfi_crawler.backfill_run import BackfillExtension
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.refresh import RefreshExtension
from rfi_crawler.spiders.rfi_cn import RUN_EXTENSIONS, RfiCnSpider
from tests.crawling import built_crawler, project_settings

BACKFILL = {"archive": "1", "since": "2020-01-01", "until": "2020-01-31"}


def crawler_as_a_crawl_builds_it(tmp_path, settings: dict[str, Any], **arguments: str):
    """The spider first (it adds the run's extensions to the user's ``EXTENSIONS``), then
    the extensions: Scrapy's order in ``Crawler.crawl`` (tests.crawling's ``built_crawler``
    builds them the other way round). Nothing opened."""
    settings = {
        **project_settings(RFI_DATA_DIR=str(tmp_path), EXTENSIONS={}),
        **get_reactor_settings(),  # this pytest runs no reactor
        **settings,
    }
    crawler = AsyncCrawlerRunner(settings).create_crawler(RfiCnSpider)
    crawler.spider = crawler._create_spider(**arguments)
    crawler._apply_settings()  # builds the extensions, as Crawler.crawl does
    return crawler


class PolicyOfOurOwn(RefreshPolicy):
    """Another refresh policy: the spider takes whichever ``RefreshPolicy`` is enabled."""

    @classmethod
    def from_crawler(cls, crawler):
        return cls(None, (), 0, False, datetime.now(UTC))

    def skip(self, found):
        return {}


@pytest.mark.parametrize(("arguments", "backfill"), [({}, False), (BACKFILL, True)])
def test_the_spider_finds_the_extensions_built_after_it(tmp_path, arguments, backfill):
    crawler = crawler_as_a_crawl_builds_it(tmp_path, {}, **arguments)
    spider = crawler.spider
    refresh = crawler.get_extension(RefreshExtension)
    assert refresh is not None
    assert (crawler.get_extension(BackfillExtension) is not None) is backfill
    # The extensions leave the spider alone: what it holds, it looks up itself.
    held = dict(vars(spider))
    refresh.spider_opened(spider)
    assert vars(spider) == held
    spider.spider_opened()
    assert spider.refresh_policy is refresh
    assert spider.archive_backfill is crawler.get_extension(BackfillExtension)


def test_the_spider_looks_them_up_when_it_is_opened(tmp_path):
    # Only the backfill (the user disabled the others): spider_opened reaches the spider
    # and no other component, so nothing else could hand it what it holds.
    disabled = {path: None for path in RUN_EXTENSIONS if not path.endswith("BackfillExtension")}
    crawler = crawler_as_a_crawl_builds_it(
        tmp_path, {"EXTENSIONS_BASE": {}, "EXTENSIONS": disabled}, **BACKFILL
    )
    spider = crawler.spider
    assert spider.archive_backfill is None
    crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    assert isinstance(spider.archive_backfill, BackfillExtension)
    assert spider.archive_backfill is crawler.get_extension(Backfill)
    # Without the refresh extension, every known article is downloaded again.
    assert crawler.get_extension(RefreshPolicy) is None
    policy = spider.refresh_policy
    assert policy.refresh and policy.store is None and policy.skip(["x"]) == {}


def test_any_refresh_policy_extension_is_the_spiders():
    crawler = built_crawler(
        {"EXTENSIONS_BASE": {}, "EXTENSIONS": {PolicyOfOurOwn: 0}}  # none of the run's
    )
    crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)
    assert crawler.spider.refresh_policy is crawler.get_extension(PolicyOfOurOwn)
    assert crawler.spider.archive_backfill is None


def test_a_backfill_without_its_extension_requests_nothing_and_says_why(tmp_path, caplog):
    # Scrapy sets each spider argument as a spider attribute (``archive`` = "1"): the
    # backfill the spider found must not be mistaken for it.
    crawler = crawler_as_a_crawl_builds_it(
        tmp_path, {"EXTENSIONS": {"rfi_crawler.backfill_run.BackfillExtension": None}}, **BACKFILL
    )
    spider = crawler.spider
    spider.spider_opened()
    assert spider.archive == "1" and spider.archive_backfill is None

    async def requests():
        return [request async for request in spider.start()]

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(requests()) == []
    assert "archive=1 needs rfi_crawler.backfill_run.BackfillExtension" in caplog.text
