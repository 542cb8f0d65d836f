"""Test-only extension: the most requests Scrapy's scheduler held at once (``probe/max_queued``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class QueueProbe:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        crawler.signals.connect(self.request_scheduled, signal=signals.request_scheduled)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> QueueProbe:
        return cls(crawler)

    def request_scheduled(self, request: Request) -> None:
        # Sent before the request is queued: the queue as it was, plus this one.
        queued = len(self.crawler.engine.scheduler) + 1
        self.crawler.stats.max_value("probe/max_queued", queued)
