"""The archive backfill (``archive=1``) as a crawl extension: planner, sources, done days, stats.

The spider routes the archive's pages (year pages, day pages, the sitemap index, monthly
sitemaps) and asks this extension what to request next (it finds it through the crawler,
as the ``Backfill`` of rfi_crawler/backfill_api.py); this extension keeps the
``ArchivePlanner`` (rfi_crawler/backfill.py), hears every URL's final outcome from the
ledger (``url_outcome``), writes finished days to the state store once their records are
committed, refills the crawl as days complete or the crawl runs dry (``DontCloseSpider``
while work is left), and judges the two sources: the run ends ``blocked`` only when no
source is left and one was blocked. Without ``archive=1`` it is not built at all.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall

from rfi_crawler import signals as rfi_signals
from rfi_crawler.backfill import EARLIER, PARIS, ArchivePlanner, Source
from rfi_crawler.backfill_api import Backfill
from rfi_crawler.config import RfiConfig, crawl_config
from rfi_crawler.extract.archive_pages import year_url
from rfi_crawler.outcomes import OutcomeLedgerExtension
from rfi_crawler.reachability import UNREACHABLE
from rfi_crawler.run import CrawlRun
from rfi_crawler.store_errors import STORE_ERRORS

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from rfi_crawler.extract.archive_pages import MonthlySitemap
    from rfi_crawler.state import StateStore

logger = logging.getLogger(__name__)

BLOCKED = "blocked"
BLOCK_REASONS = frozenset({"http_403", "http_429"})


class Status(StrEnum):
    UNUSED = "unused"  # nothing asked of it yet
    USED = "used"  # answered at least once
    MISSING = "missing"  # the site has none (404)
    FAILED = "failed"  # could not be read (5xx, timeout…)
    BLOCKED = "blocked"  # 403/429


UNUSABLE = frozenset({Status.MISSING, Status.FAILED, Status.BLOCKED})


def paris_today() -> date:
    return datetime.now(UTC).astimezone(PARIS).date()


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


class StoreDays:
    """The planner's ``DaysDone`` on the run's state store. Done days are read a month at
    a time; a finished day is written once every record it waits for is committed (a
    record still unsynced when the process dies is exported again by the next run, so
    its day must be read again too)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.store: StateStore | None = None
        self.run_id = ""
        self._month: tuple[int, int] | None = None
        self._done: set[date] = set()
        self.awaiting: dict[date, frozenset[str]] = {}
        self.written = 0

    def open(self, store: StateStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def is_done(self, day: date) -> bool:
        if (day.year, day.month) != self._month:
            self._done = self.done_between(day.replace(day=1), month_end(day))
            self._month = (day.year, day.month)
        return day in self._done

    def done_between(self, first: date, last: date) -> set[date]:
        if self.store is None:
            return set()
        try:
            found = self.store.archive_days_done(first.isoformat(), last.isoformat())
        except STORE_ERRORS as exc:
            self._failed(exc)
            return set()
        return {date.fromisoformat(day) for day in found}

    def mark_done(self, day: date, confirm: frozenset[str]) -> None:
        self.awaiting[day] = confirm
        if (day.year, day.month) == self._month:
            self._done.add(day)

    def flush(self) -> int:
        """Write the awaiting days whose records the store holds; how many were written."""
        if not self.awaiting or self.store is None:
            return 0
        try:
            wanted = sorted(set().union(*self.awaiting.values()))
            known = self.store.known_many(wanted) if wanted else {}
            ready = sorted(d for d, urls in self.awaiting.items() if urls <= known.keys())
            if ready:
                now = datetime.now(UTC).isoformat(timespec="seconds")
                self.store.mark_archive_days_done([d.isoformat() for d in ready], self.run_id, now)
        except STORE_ERRORS as exc:
            self._failed(exc)
            return 0
        for day in ready:
            del self.awaiting[day]
        self.written += len(ready)
        return len(ready)

    def _failed(self, exc: Exception) -> None:
        self.store = None  # no further queries on a failed store; the run stops
        self.crawler.signals.send_catch_log(rfi_signals.store_failed, error=exc)


class BackfillExtension(Backfill):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackfillExtension:
        arguments = getattr(crawler.spider, "arguments", None)
        if not getattr(arguments, "archive", False):
            raise NotConfigured  # not a backfill: silently off (no log line per hourly run)
        return cls(crawler, crawl_config(crawler))

    def __init__(self, crawler: Crawler, config: RfiConfig) -> None:
        self.crawler = crawler
        self.config = config
        window = crawler.spider.arguments.window  # type: ignore[union-attr]
        assert window.since is not None  # archive=1 requires it (arguments.py)
        until = window.until or paris_today()
        self.days = StoreDays(crawler)
        self.planner = ArchivePlanner(
            window.since, until, self.days, max_in_flight=config.archive_days_in_flight
        )
        self.since, self.until = window.since, until
        self.status = {source: Status.UNUSED for source in Source}
        self.failures_in_row = dict.fromkeys(Source, 0)  # no answer at all (not 404, not blocks)
        self.archive_years: dict[int, str] = {}  # year → its page, from the archive-years aside
        self.months: deque[MonthlySitemap] | None = None  # None: the index is not read yet
        self.index_taken = False
        self.month_in_flight = False
        self.ready = False  # the store is open
        self.closing = False
        self._flusher = LoopingCall(self.days.flush)
        connect = crawler.signals.connect
        connect(self.store_opened, signal=rfi_signals.store_opened)
        connect(self.url_outcome, signal=rfi_signals.url_outcome)
        connect(self.source_blocked, signal=rfi_signals.source_blocked)
        connect(self.spider_idle, signal=signals.spider_idle)
        connect(self.spider_closed, signal=signals.spider_closed)

    # -- run lifecycle -------------------------------------------------------------------

    def store_opened(self, store: StateStore) -> None:
        run = self.crawler.get_extension(CrawlRun)
        self.days.open(store, run.run_id if run is not None else "")
        self.ready = True
        last = min(self.until, paris_today())
        self.crawler.stats.set_value("rfi/archive/days/total", max(0, (last - self.since).days + 1))
        logger.info(
            "backfill %s to %s through the archive (year and day pages) and the monthly "
            "sitemaps, %d day(s) at a time",
            self.since,
            self.until,
            self.planner.max_in_flight,
        )
        # Records are committed in batches: their days are written a little later.
        self._flusher.start(self.config.sync_seconds, now=False)

    def spider_closed(self, reason: str) -> None:
        """After the export's last commit (pipelines close first): write what is done."""
        self.closing = True
        if self._flusher.running:
            self._flusher.stop()
        self.days.flush()
        unconfirmed = len(self.days.awaiting)
        if unconfirmed:
            logger.warning(
                "%d archive day(s) finished but not recorded: a record of theirs is not in "
                "the state store; the next run reads them again",
                unconfirmed,
            )
        stats = self.crawler.stats
        stats.set_value("rfi/archive/days/recorded", self.days.written)
        stats.set_value("rfi/archive/days/unrecorded", unconfirmed)
        self.publish()
        for source, status in self.status.items():
            stats.set_value(f"rfi/archive/source/{source}", str(status))
        logger.info("%s", self.describe_sources())

    def describe_sources(self) -> str:
        stats = self.crawler.stats
        return (
            f"backfill sources: archive pages {self.status[Source.ARCHIVE]} "
            f"({stats.get_value('rfi/archive/years/read', 0)} year and "
            f"{stats.get_value('rfi/archive/days/read', 0)} day pages read), monthly sitemaps "
            f"{self.status[Source.SITEMAPS]} "
            f"({stats.get_value('rfi/archive/sitemaps/read', 0)} read)"
        )

    def publish(self) -> None:
        """The planner's counts as ``rfi/archive/…`` stats."""
        for key, value in self.planner.stats.items():
            self.crawler.stats.set_value(f"rfi/archive/{key}", value)

    # -- what to request next (asked by the spider) ---------------------------------------

    def take_index(self) -> bool:
        """Whether to request the sitemap index now (once per run)."""
        if self.index_taken or not self.ready:
            return False
        self.index_taken = True
        return True

    def year_page(self, year: int) -> str | None:
        """The year page to request, or None when the site has no archive for the year
        (then its days are skipped). The aside names the years; one missing inside its
        range (2007, 2008 on the real site) has no archive."""
        if year in self.archive_years:
            return self.archive_years[year]
        if self.archive_years and min(self.archive_years) < year < max(self.archive_years):
            self.planner.calendar(year, {}, absent=True)
            return None
        return year_url(year)

    def next_month(self, idle: bool = False) -> MonthlySitemap | None:
        """The next monthly sitemap to read, one at a time, as the archive's days reach its
        month (or whenever the crawl is idle, or the archive is done or blocked)."""
        if self.months is None or self.month_in_flight or self.status[Source.SITEMAPS] in UNUSABLE:
            return None
        planner = self.planner
        pace = not (idle or planner.halted or planner.finished)
        while self.months:
            month = self.months[0]
            if pace and date(month.year, month.month, 1) > planner.cursor:
                return None
            self.months.popleft()
            start = date(month.year, month.month, 1)
            first, last = max(self.since, start), min(self.until, month_end(start))
            done = self.days.done_between(first, last)
            if last < paris_today() and len(done) == (last - first).days + 1:
                self._count("sitemaps/skipped_done")  # every day of it is done already
                continue
            self.month_in_flight = True
            return month
        return None

    # -- what the site answered (told by the spider) --------------------------------------

    def answered(self, source: Source) -> None:
        self.failures_in_row[source] = 0
        if self.status[source] is not Status.BLOCKED:
            self.status[source] = Status.USED

    def aside(self, years: dict[int, str]) -> None:
        self.archive_years.update(years)

    def year_read(self, year: int, links: dict[date, str]) -> None:
        self._count("years/pages")
        self.planner.calendar(year, links)
        self.publish()

    def year_failed(self, year: int, reason: str) -> None:
        self._failed(Source.ARCHIVE, reason)
        if reason == "http_404":
            self.planner.calendar(year, {}, absent=True)  # no archive for that year
        else:
            logger.warning("year page %d unavailable (%s): day page URLs are built", year, reason)
            self.planner.calendar(year, None)

    def day_listed(self, day: date, items: list[str]) -> None:
        """A day page listed these items (before they are requested: an outcome may come
        at once). Those the ledger settled earlier in this run get no outcome again."""
        self._count("days/read")
        self.planner.listed(day, items)
        ledger = self.crawler.get_extension(OutcomeLedgerExtension)
        for url in items:
            if ledger is not None and ledger.ledger.has_outcome(url):
                self.planner.settled(url, EARLIER)
        self._after_settling()

    def day_failed(self, day: date, reason: str) -> None:
        self._failed(Source.ARCHIVE, reason)
        self.planner.day_failed(day)
        self.publish()

    def index_read(self, months: list[MonthlySitemap]) -> None:
        self.months = deque(m for m in months if m.overlaps(self.since, self.until))
        self._count("sitemaps/months", len(self.months))
        if not months:
            logger.warning("the sitemap index lists no monthly content sitemap")

    def index_failed(self, reason: str) -> None:
        self._failed(Source.SITEMAPS, reason)
        self.status[Source.SITEMAPS] = (
            Status.BLOCKED
            if reason in BLOCK_REASONS or self.status[Source.SITEMAPS] is Status.BLOCKED
            else Status.MISSING
            if reason == "http_404"
            else Status.FAILED
        )
        logger.warning(
            "no monthly sitemaps (%s): the backfill goes on with the archive pages alone", reason
        )
        self._judge_sources()

    def month_read(self) -> None:
        self._count("sitemaps/read")
        self.month_in_flight = False

    def month_failed(self, reason: str) -> None:
        self._failed(Source.SITEMAPS, reason)
        self.month_in_flight = False

    def _failed(self, source: Source, reason: str) -> None:
        self._count(f"{source}/failed/{reason}")
        if reason in BLOCK_REASONS:
            self._count(f"{source}/blocked_answers")  # the backoff middleware judges these
            return
        if reason in ("http_404", "http_410"):
            return  # an answer: the page is not there
        self.failures_in_row[source] += 1
        if (
            source is Source.ARCHIVE
            and self.failures_in_row[source] >= self.config.block_threshold
            and self.status[source] is not Status.FAILED
        ):
            # Timeouts, refused connections, 5xx in a row: stop building day URLs that
            # will not answer either; the next run tries these days again.
            self.status[source] = Status.FAILED
            self.planner.halt()
            logger.error(
                "the archive pages failed %d times in a row (last: %s): no more day pages "
                "are requested in this run",
                self.failures_in_row[source],
                reason,
            )
            self._judge_sources()

    # -- outcomes, blocks, idleness -------------------------------------------------------

    def url_outcome(self, url: str, outcome: str) -> None:
        self.planner.settled(url, outcome)
        self._after_settling()

    def _after_settling(self) -> None:
        # A day that completed makes room: plan the next ones now, not when the crawl idles.
        if self.planner.in_flight < self.planner.max_in_flight:
            self.refill()
        self.publish()

    def refill(self, idle: bool = False) -> int:
        """Schedule what the archive needs now; how many requests."""
        spider = self.crawler.spider
        if self.closing or not self.ready or spider is None:
            return 0
        engine = self.crawler.engine  # ready: the store opened, at the engine's spider_opened
        count = 0
        for request in spider.archive_requests(idle=idle):  # type: ignore[attr-defined]
            engine.crawl(request)
            count += 1
        return count

    def source_blocked(self, source: str) -> None:
        """RFI_BLOCK_THRESHOLD blocks in a row from one source (the backoff middleware)."""
        if source not in Source.__members__.values():
            return
        self.status[Source(source)] = Status.BLOCKED
        self._count(f"{source}/blocked")
        if source == Source.ARCHIVE:
            self.planner.halt()
            logger.error(
                "the archive pages are blocked (403/429): no more day pages are requested; "
                "the backfill goes on with the monthly sitemaps if they answer"
            )
        else:
            logger.error("the monthly sitemaps are blocked (403/429)")
        self._judge_sources()

    def _judge_sources(self) -> None:
        """End the run once no source is left: ``blocked`` if one of them was blocked, else
        ``unreachable`` (they failed, or the site has none): never ``finished``."""
        statuses = set(self.status.values())
        if self.closing or not statuses <= UNUSABLE:
            return
        self.closing = True
        sources = ", ".join(f"{s} {st}" for s, st in self.status.items())
        if Status.BLOCKED in statuses:
            self.crawler.stats.set_value("rfi/blocked", 1)
            logger.error(
                "every source of the backfill is blocked or missing (%s): stopping; the days "
                "done so far are kept and the next run resumes after them. Slow down or run "
                "from another network.",
                sources,
            )
            reason = BLOCKED
        else:
            self.crawler.stats.set_value("rfi/unreachable", 1)
            logger.error(
                "every source of the backfill failed or is missing (%s): stopping; the days "
                "done so far are kept and the next run reads the others again",
                sources,
            )
            reason = UNREACHABLE
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))

    def spider_idle(self) -> None:
        self.days.flush()
        archive = self.status[Source.ARCHIVE]
        if archive is not Status.USED and self.stat("archive/blocked_answers"):
            # Every archive page that failed was refused, none answered: blocked, even
            # below RFI_BLOCK_THRESHOLD (a short window).
            self.source_blocked(Source.ARCHIVE)
        if self.closing:
            return
        if self.refill(idle=True):
            raise DontCloseSpider
        stuck = self.planner.release_stuck()
        if stuck:
            # Nothing left to download, yet items of these days have no outcome: never
            # wait for them (the day is read again next run).
            logger.warning("archive days left without an outcome for every item: %s", stuck)
            self._count("days/stuck", len(stuck))
            if self.refill(idle=True):
                raise DontCloseSpider

    def stat(self, key: str) -> int:
        return int(self.crawler.stats.get_value(f"rfi/archive/{key}", 0) or 0)

    def _count(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(f"rfi/archive/{key}", count)
