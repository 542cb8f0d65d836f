"""Downloader middleware: back off on 403/429, and stop a crawl the site is blocking."""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.utils.defer import deferred_from_coro

from rfi_crawler import signals as rfi_signals
from rfi_crawler.config import RfiConfig, crawl_config
from rfi_crawler.guards import Rejected

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

BLOCK_STATUSES = (403, 429)
# A pause looks this often whether the crawl is shutting down (SIGTERM, Ctrl-C).
PAUSE_SLICE = 0.25
BLOCKED_MESSAGE = (
    "%s is blocking this crawler: %d consecutive HTTP 403/429 answers (last: %s). "
    "The site blocks many data-centre IP ranges. Stopping now; everything fetched so far is "
    "kept. Slow down (-s CONCURRENT_REQUESTS=1 -s DOWNLOAD_DELAY=10) or run from another "
    "network (a residential or university connection)."
)


def retry_after(response: Response) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if any."""
    value = response.headers.get(b"Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isascii() and text.isdigit():  # "²" is a digit to str.isdigit
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
        return max(0.0, moment.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


class BlockBackoffMiddleware:
    """A 403 or 429 pauses every request for an exponentially growing delay (or what
    ``Retry-After`` asks), then is retried up to ``RFI_BACKOFF_RETRIES`` times: never a
    tight loop. ``RFI_BLOCK_THRESHOLD`` such answers in a row end the crawl with finish
    reason ``blocked``. Any 2xx/3xx answer resets the count and eases the delay. A pause
    ends early when the crawl shuts down: its request is then ``cancelled``, not retried.

    Requests of an optional source (``meta["rfi_source"]``: the backfill's archive pages
    or monthly sitemaps) are counted apart: their blocks in a row announce that source
    blocked (``source_blocked``; its later answers are neither paused for nor retried)
    rather than end the crawl, which the backfill ends once no source is left."""

    def __init__(self, crawler: Crawler, config: RfiConfig) -> None:
        self.crawler = crawler
        self.config = config
        self.consecutive = 0  # the site's own pages (no rfi_source)
        self.by_source: dict[str, int] = {}
        self.blocked_sources: set[str] = set()
        self.level = 0
        self.resume_at = 0.0
        self.stopping = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BlockBackoffMiddleware:
        return cls(crawler, crawl_config(crawler))

    def shutting_down(self) -> bool:
        engine = self.crawler.engine
        return self.stopping or not self.crawler.crawling or not engine.running

    async def process_request(self, request: Request) -> None:
        while (wait := self.resume_at - time.monotonic()) > 0:
            if self.shutting_down():
                raise Rejected("cancelled", "the crawl shut down during a backoff pause")
            await asyncio.sleep(min(wait, PAUSE_SLICE))
        tries = request.meta.get("rfi_backoff_tries", 0)
        if tries and not request.meta.get("rfi_backoff_counted"):
            # Told when it happens: a retry the shutdown cut short is never logged.
            request.meta["rfi_backoff_counted"] = True
            self.crawler.stats.inc_value("rfi/backoff/retries")
            logger.info(
                "retry %d of %d after the pause: %s",
                tries,
                self.config.backoff_retries,
                request.url,
            )

    def process_response(self, request: Request, response: Response) -> Request | Response:
        source = request.meta.get("rfi_source")
        if response.status not in BLOCK_STATUSES:
            if response.status < 400:
                if source:
                    self.by_source[source] = 0
                else:
                    self.consecutive = 0
                self.level = max(0, self.level - 1)
            return response
        stats = self.crawler.stats
        stats.inc_value(f"rfi/backoff/http_{response.status}")
        if source:
            if source in self.blocked_sources:
                return response  # given up on: no pause, no retry
            self.by_source[source] = self.by_source.get(source, 0) + 1
            if self.by_source[source] >= self.config.block_threshold:
                self._source_blocked(source, response)
                return response
        else:
            self.consecutive += 1
            if self.consecutive >= self.config.block_threshold:
                self._stop_blocked(response)
                return response
        delay = retry_after(response)
        if delay is None:
            delay = self.config.backoff_base * 2**self.level
            self.level += 1
        delay = min(delay, self.config.backoff_max)
        self.resume_at = max(self.resume_at, time.monotonic() + delay)
        tries = request.meta.get("rfi_backoff_tries", 0)
        if tries >= self.config.backoff_retries or self.shutting_down():
            return response  # the errback names it (http_403, http_429)
        logger.info(
            "HTTP %d from %s: pausing every request %.1fs", response.status, response.url, delay
        )
        retry = request.replace(dont_filter=True)
        retry.meta["rfi_backoff_tries"] = tries + 1
        retry.meta.pop("rfi_backoff_counted", None)
        return retry

    def _source_blocked(self, source: str, response: Response) -> None:
        self.blocked_sources.add(source)
        logger.error(
            "source %s blocked: %d consecutive HTTP 403/429 answers (last: %s)",
            source,
            self.by_source[source],
            response.url,
        )
        self.crawler.signals.send_catch_log(rfi_signals.source_blocked, source=source)

    def _stop_blocked(self, response: Response) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.crawler.stats.set_value("rfi/blocked", 1)
        host = urlsplit(response.url).netloc  # the site crawled: a replica, a mirror
        logger.error(BLOCKED_MESSAGE, host, self.consecutive, response.url)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="blocked"))
