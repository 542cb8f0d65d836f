"""The refresh policy as a crawl extension, fed the run's state store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scrapy import signals

from rfi_crawler import signals as rfi_signals
from rfi_crawler.config import RfiConfig
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.store_errors import STORE_ERRORS

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from rfi_crawler.state import KnownArticle, StateStore


class RefreshExtension(RefreshPolicy):
    """The policy as a crawl component: the store arrives with ``store_opened``, the
    ``refresh`` spider argument (if given) overrides ``RFI_REFRESH``; a store error stops
    the run (``store_failed``) and downloads the batch rather than skip it. The spider
    gets it as its ``refresh_policy`` at ``spider_opened``."""

    def __init__(self, crawler: Crawler) -> None:
        config = RfiConfig.from_settings(crawler.settings)
        super().__init__(None, config.refresh_days, config.refresh, datetime.now(UTC).date())
        self.crawler = crawler
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.store_opened, signal=rfi_signals.store_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RefreshExtension:
        return cls(crawler)

    def store_opened(self, store: StateStore) -> None:
        self.store = store

    def spider_opened(self, spider: Spider) -> None:
        """Take the spider's ``refresh`` argument, and become the spider's policy."""
        refresh = getattr(getattr(spider, "arguments", None), "refresh", None)
        if refresh is not None:
            self.refresh = refresh
        spider.refresh_policy = self

    def skip(self, found: list[str]) -> dict[str, KnownArticle]:
        try:
            return super().skip(found)
        except STORE_ERRORS as exc:
            self.crawler.signals.send_catch_log(rfi_signals.store_failed, error=exc)
            self.store = None  # no further queries on a failed store
            return {}
