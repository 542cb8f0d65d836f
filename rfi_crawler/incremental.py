"""Whether article pages need downloading again (scope: every run sharing the store)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from scrapy import signals

from rfi_crawler import signals as rfi_signals
from rfi_crawler import urls
from rfi_crawler.config import RfiConfig
from rfi_crawler.store_errors import STORE_ERRORS

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from rfi_crawler.state import KnownArticle, StateStore

logger = logging.getLogger(__name__)


class RefreshPolicy:
    """Pages the store already holds are not downloaded again once older than
    ``refresh_days`` (judged by the stored publication date, else the URL's date): their
    content no longer changes in practice. Listing pages, feeds and sitemaps are always
    read, so new articles are still found. ``refresh`` downloads everything again (and
    still exports only what changed). One store query per batch of URLs (a listing page)."""

    def __init__(
        self, store: StateStore | None, refresh_days: int, refresh: bool, today: date
    ) -> None:
        self.store = store
        self.refresh_days, self.refresh, self.today = refresh_days, refresh, today

    def skip(self, found: list[str]) -> dict[str, KnownArticle]:
        """The stored article of each URL that need not be downloaded.

        Their stored related links let the crawl go on through them without the page.
        """
        if self.refresh or not found or self.store is None:
            return {}
        known = self.store.known_many(list(dict.fromkeys(found)))
        return {url: article for url, article in known.items() if self._old(url, article)}

    def _old(self, url: str, known: KnownArticle) -> bool:
        published = (
            datetime.fromisoformat(known.published_at).date()
            if known.published_at
            else urls.date_in_path(urls.path_of(url))
        )
        return published is not None and (self.today - published).days > self.refresh_days


class RefreshExtension(RefreshPolicy):
    """The policy as a crawl component: the store arrives with ``store_opened``, the
    ``refresh`` spider argument (if given) overrides ``RFI_REFRESH``; a store error stops
    the run (``store_failed``) and downloads the batch rather than skip it."""

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
        refresh = getattr(getattr(spider, "arguments", None), "refresh", None)
        if refresh is not None:
            self.refresh = refresh

    def skip(self, found: list[str]) -> dict[str, KnownArticle]:
        try:
            return super().skip(found)
        except STORE_ERRORS as exc:
            self.crawler.signals.send_catch_log(rfi_signals.store_failed, error=exc)
            self.store = None  # no further queries on a failed store
            return {}
