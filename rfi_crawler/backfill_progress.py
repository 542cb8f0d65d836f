"""A backfill's progress from its stats: one log line a minute, the same figures at the end."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet.task import LoopingCall

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

INTERVAL = 60.0  # seconds between two progress lines


@dataclass(frozen=True)
class Progress:
    days_done: int  # finished in this run or an earlier one, or with nothing to read
    days_total: int
    exported: int
    pages_per_minute: float
    eta_seconds: int | None  # None: no day finished in this run yet

    def line(self) -> str:
        eta = "unknown" if self.eta_seconds is None else _duration(self.eta_seconds)
        return (
            f"backfill: {self.days_done}/{self.days_total} days done, {self.exported} "
            f"articles exported, {self.pages_per_minute:.0f} pages/min, ETA {eta}"
        )


def progress(stats: StatsCollector, elapsed: float, pages_per_minute: float) -> Progress:
    """The figures, from the run's stats (``rfi/archive/…``) and its time so far."""

    def get(key: str) -> int:
        return int(stats.get_value(key, 0) or 0)

    this_run = get("rfi/archive/days/done") + get("rfi/archive/days/no_archive")
    done = this_run + get("rfi/archive/days/skipped_done")
    total = get("rfi/archive/days/total")
    left = max(0, total - done)
    eta = None
    if left == 0:
        eta = 0
    elif this_run and elapsed > 0:
        eta = round(left * elapsed / this_run)
    exported = get("rfi/exported/new") + get("rfi/exported/changed")
    return Progress(min(done, total), total, exported, pages_per_minute, eta)


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class BackfillProgress:
    """Logs ``Progress.line()`` every minute of a backfill; at the end puts the figures
    in the stats (``rfi/archive/progress/…``), which the run's manifest carries."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackfillProgress:
        if not getattr(getattr(crawler.spider, "arguments", None), "archive", False):
            raise NotConfigured  # not a backfill: silently off (no log line per hourly run)
        return cls(crawler)

    def __init__(self, crawler: Crawler, interval: float = INTERVAL) -> None:
        self.crawler = crawler
        self.interval = interval
        self.started = time.monotonic()
        self._last = (self.started, 0)  # (when, pages) at the previous line
        self._task = LoopingCall(self.tick)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    def spider_opened(self) -> None:
        self.started = time.monotonic()
        self._last = (self.started, 0)
        self._task.start(self.interval, now=False)

    def pages(self) -> int:
        return int(self.crawler.stats.get_value("response_received_count", 0) or 0)

    def current(self, *, overall: bool = False) -> Progress:
        """Pages per minute over the last interval (``overall``: over the whole run)."""
        now, pages = time.monotonic(), self.pages()
        since, before = (self.started, 0) if overall else self._last
        rate = (pages - before) * 60 / (now - since) if now > since else 0.0
        self._last = (now, pages)
        return progress(self.crawler.stats, now - self.started, rate)

    def tick(self) -> None:
        logger.info("%s", self.current().line())

    def spider_closed(self) -> None:
        if self._task.running:
            self._task.stop()
        figures = self.current(overall=True)
        logger.info("%s", figures.line())
        stats = self.crawler.stats
        stats.set_value("rfi/archive/progress/days_done", figures.days_done)
        stats.set_value("rfi/archive/progress/days_total", figures.days_total)
        stats.set_value("rfi/archive/progress/articles_exported", figures.exported)
        stats.set_value("rfi/archive/progress/pages_per_minute", round(figures.pages_per_minute, 1))
        stats.set_value("rfi/archive/progress/eta_seconds", figures.eta_seconds)
