"""A crawl that reached nothing ends as ``unreachable``, not as a quiet success.

"Reached nothing": no start point (homepage, section, feed, sitemap, or a ``urls`` page)
answered 2xx. That is not "exported nothing", the normal result of an hourly run. Judged
when the crawl runs dry; one ERROR line names what failed and what to check. A crawl
resumed from ``JOBDIR`` remembers (in the spider's persisted state) that its first part
reached the site.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import CloseSpider

from rfi_crawler import signals as rfi_signals

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

UNREACHABLE = "unreachable"
STATE_KEY = "rfi_reached"
HINTS = {
    "dns": "the host name (RFI_BASE_URL) and this machine's DNS",
    "connection": "RFI_BASE_URL's host and port, and this machine's network or proxy",
    "timeout": "this machine's network or proxy (DOWNLOAD_TIMEOUT)",
    "robots": "robots.txt, which forbids or could not be read (logged above)",
    "http_404": "the URLs themselves: the site says they do not exist (mistyped, or removed)",
    "http_410": "the URLs themselves: the site says they were removed",
}
DEFAULT_HINT = "whether the site blocks this machine (403/429) or has moved (RFI_BASE_URL)"


class ReachabilityExtension:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.answered = 0
        self.failed: Counter[str] = Counter()
        self.example: dict[str, str] = {}
        self.state: dict[str, Any] = {}
        crawler.signals.connect(self.start_answered, signal=rfi_signals.start_answered)
        crawler.signals.connect(self.start_failed, signal=rfi_signals.start_failed)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReachabilityExtension:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        # SpiderState (an earlier extension) loaded JOBDIR's state into spider.state.
        state = getattr(spider, "state", None)
        if isinstance(state, dict):
            self.state = state
            self.answered += int(state.get(STATE_KEY, 0))

    def start_answered(self, url: str) -> None:
        self.answered += 1
        self.state[STATE_KEY] = 1

    def start_failed(self, url: str, reason: str) -> None:
        self.failed[reason] += 1
        self.example.setdefault(reason, url)

    def spider_idle(self) -> None:
        if self.answered:
            return
        # Told once: a backfill may hold the crawl open (DontCloseSpider) for its other
        # sources, and the crawl then goes idle again.
        if not self.crawler.stats.get_value("rfi/unreachable"):
            self.crawler.stats.set_value("rfi/unreachable", 1)
            logger.error("%s", self.describe())
        raise CloseSpider(UNREACHABLE)

    def describe(self) -> str:
        if not self.failed:
            return "unreachable: no start point answered; check RFI_BASE_URL and the network"
        # "robots" only says robots.txt forbade the rest; what made it fail says more, so
        # it comes first (an offline machine: "1 dns", then "3 robots").
        ranked = sorted(self.failed.items(), key=lambda item: (item[0] == "robots", -item[1]))
        failures = ", ".join(
            f"{count} {reason} (e.g. {self.example[reason]})" for reason, count in ranked
        )
        main = ranked[0][0]
        return (
            f"unreachable: no start point answered 2xx; failed: {failures}. "
            f"Check {HINTS.get(main, DEFAULT_HINT)}."
        )
