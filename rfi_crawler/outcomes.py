"""Every content URL a run meets ends in exactly one named outcome (scope: this run).

Outcomes: ``exported``; ``unchanged`` (downloaded, same content as exported before);
``skipped/<reason>`` (``known`` — not downloaded again, ``outside_window``, ``robots``,
``duplicate``, ``invalid``, ``claimed_by_other_run``); ``failed/<reason>`` (``http_403``,
``http_404``, ``http_5xx``, ``timeout``, ``dns``, ``connection``, ``data_loss``,
``too_large``, ``not_html``, ``no_article``, ``url_too_long``, ``output_error`` …, and
``spider_error`` or ``item_error``: a callback or a pipeline raised, a bug that Scrapy logs
with its traceback);
``cancelled`` (the run stopped before the URL was settled). Stats: ``rfi/outcome/met`` and
``rfi/outcome/<outcome>``; their sum always equals ``met``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import DropItem

from rfi_crawler import signals as rfi_signals
from rfi_crawler.compact import HashSet, hash64

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


#: ``response.meta`` key the spider sets before it yields a page's record.
RECORD_YIELDED = "rfi_record_yielded"


class Dropped(DropItem):
    """A pipeline's drop, with the outcome it settles for the record's URL."""

    def __init__(self, outcome: str, message: str, log_level: str | None = None) -> None:
        super().__init__(message, log_level=log_level)
        self.outcome = outcome


class OutcomeLedger:
    """The ledger itself (pure); ``OutcomeLedgerExtension`` feeds it from signals.

    It grows with the crawl (every URL met), so URLs are kept as 64-bit hashes
    (``HashSet``, ~10 bytes a URL, against ~100 for two set slots); only counts are
    needed of the URLs met but never settled.
    """

    def __init__(self) -> None:
        self._met = HashSet()  # met before being settled
        self._settled = HashSet()
        self._met_then_settled = 0
        self._closed = False
        self.counts: Counter[str] = Counter()

    @property
    def met(self) -> int:
        return len(self._met) + len(self._settled) - self._met_then_settled

    def meet(self, url: str) -> None:
        key = hash64(url)
        if not self._settled.has_key(key):
            self._met.add_key(key)

    def has_outcome(self, url: str) -> bool:
        return url in self._settled

    def settle(self, url: str, outcome: str) -> bool:
        """Record the URL's outcome; False (and a warning) if it had one already."""
        key = hash64(url)
        if self._settled.has_key(key):
            logger.warning("outcome %s for %s ignored: it was settled already", outcome, url)
            return False
        # A request resumed from JOBDIR was met by the process that scheduled it.
        self._met_then_settled += self._met.has_key(key)
        self._settled.add_key(key)
        self.counts[outcome] += 1
        return True

    def close(self) -> Counter[str]:
        """Count what is still open as ``cancelled``; the final counts."""
        still_open = len(self._met) - self._met_then_settled
        if still_open and not self._closed:
            self.counts["cancelled"] += still_open
        self._closed = True
        return self.counts


def content_url(request: Request | None) -> str | None:
    """The canonical content URL an article request was made for (None for listings)."""
    return None if request is None else request.cb_kwargs.get("url")


class OutcomeLedgerExtension:
    """Keeps the run's ledger: URLs met and settled by the spider and middlewares
    (``rfi_crawler.signals``), records exported or dropped by the pipelines, requests
    the dupefilter refused. Writes ``rfi/outcome/*`` when the spider closes."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.ledger = OutcomeLedger()
        connect = crawler.signals.connect
        connect(self.ledger.meet, signal=rfi_signals.url_met)
        connect(self.settle, signal=rfi_signals.url_settled)
        connect(self.item_scraped, signal=signals.item_scraped)
        connect(self.item_dropped, signal=signals.item_dropped)
        connect(self.request_dropped, signal=signals.request_dropped)
        connect(self.spider_error, signal=signals.spider_error)
        connect(self.item_error, signal=signals.item_error)
        connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OutcomeLedgerExtension:
        return cls(crawler)

    def settle(self, url: str, outcome: str) -> None:
        """Record the outcome; the first one of a URL is told on (``url_outcome``)."""
        if self.ledger.settle(url, outcome):
            self.crawler.signals.send_catch_log(rfi_signals.url_outcome, url=url, outcome=outcome)

    def item_scraped(self, item: Any, response: Any) -> None:
        self._settle_item(response, "exported")

    def item_dropped(self, item: Any, response: Any, exception: Exception) -> None:
        self._settle_item(response, getattr(exception, "outcome", "skipped/dropped"))

    def spider_error(self, failure: Any, response: Any) -> None:
        url = content_url(getattr(response, "request", None))
        if url is None:
            return
        self.crawler.stats.inc_value("rfi/failed/spider_error")
        # A record yielded before the error is still in the pipelines (Scrapy takes a
        # callback's output on while items wait): its own outcome settles the URL.
        if not response.meta.get(RECORD_YIELDED):
            self.settle(url, "failed/spider_error")

    def item_error(self, item: Any, response: Any, failure: Any) -> None:
        url = content_url(getattr(response, "request", None))
        if url is not None:
            self.crawler.stats.inc_value("rfi/failed/item_error")
            self.settle(url, "failed/item_error")

    def _settle_item(self, response: Any, outcome: str) -> None:
        url = content_url(getattr(response, "request", None))
        if url is not None:
            self.settle(url, outcome)

    def request_dropped(self, request: Request) -> None:
        """The dupefilter refused a request, with no errback: a redirect back to a URL
        already requested, i.e. a redirect loop."""
        url = content_url(request)
        if url is None:
            return
        reason = "redirect_loop" if request.meta.get("redirect_times") else "duplicate_request"
        self.crawler.stats.inc_value(f"rfi/failed/{reason}")
        logger.warning("article not fetched (%s): %s", reason, request.url)
        self.settle(url, f"failed/{reason}")

    def spider_closed(self, reason: str) -> None:
        met = self.ledger.met
        stats = self.crawler.stats
        stats.set_value("rfi/outcome/met", met)
        for outcome, count in self.ledger.close().items():
            stats.set_value(f"rfi/outcome/{outcome}", count)
