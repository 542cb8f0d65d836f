"""Archive backfill planning: which days to fetch next, and when a day is done.

The planner walks a ``since``–``until`` window day by day with a cursor, never holding the
window: what it keeps is the days in flight (at most ``max_in_flight``), the items each
listed that are still pending, and the calendar links of the years those days are in.
A day is done when every item its page listed reached a final outcome, and never while it
is still today (or later) in Paris; only done days are written to the ``DaysDone`` store,
so a run stopped at any point resumes at the first day not done. An outcome that another
run may change (a timeout, a 5xx, a block, a cancelled request) leaves its day not done;
one that is final only once the record is durable (``exported``) is handed to the store
with the day, which writes the day once the record is committed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")


class Source(StrEnum):
    """Where a backfill finds the window's articles (a request's ``meta["rfi_source"]``)."""

    ARCHIVE = "archive"  # year pages → day pages → items
    SITEMAPS = "sitemaps"  # /sitemaps/cn/index.xml → monthly contents_YYYYMM.xml


# Failures that another run would meet again: final for the day. Any other ``failed/…``
# (timeout, connection, http_5xx, http_403/429, data_loss, state_error…) may pass later.
PERMANENT_FAILURES = frozenset(
    {
        "failed/http_404",
        "failed/http_410",
        "failed/no_article",
        "failed/not_html",
        "failed/binary",
        "failed/too_large",
        "failed/redirect_loop",
        "failed/duplicate_request",
        "failed/offsite_redirect",
    }
)
# Outcomes final only once the record is in the store: another live run exporting it may
# die before it commits. ``EARLIER``: settled in this run before its day listed it (the
# outcome is not kept), so only the store can tell.
EARLIER = "earlier"
CONFIRM = frozenset({"exported", "skipped/claimed_by_other_run", EARLIER})


def retry_later(outcome: str) -> bool:
    """Whether the next run should read the item's day again because of this outcome."""
    return outcome == "cancelled" or (
        outcome.startswith("failed/") and outcome not in PERMANENT_FAILURES
    )


class DaysDone(Protocol):
    """Where finished days are kept between runs (the state store)."""

    def is_done(self, day: date) -> bool: ...

    def mark_done(self, day: date, confirm: frozenset[str]) -> None:
        """The day is finished once every URL in ``confirm`` is an exported article."""


@dataclass
class _Day:
    day: date
    listed: bool = False  # its page was read
    pending: set[str] = field(default_factory=set)  # items without a final outcome
    confirm: set[str] = field(default_factory=set)  # items the store must hold
    retry: bool = False  # an item's outcome may change in another run: not done


@dataclass(frozen=True)
class PlannedDay:
    day: date
    url: str | None  # the calendar's link; None: none known (build the fallback, say so)


class ArchivePlanner:
    """Hands out the window's days a few at a time and settles them.

    Calls, in the spider's words: ``next_days()`` whenever there is room (at start, and
    after a day completes or fails); ``calendar(year, links)`` when a year page was read
    (``calendar(year, None)`` when it could not be: built URLs; ``absent=True`` when the
    site has no archive for that year); ``listed(day, items)`` when a day page was read;
    ``settled(url, outcome)`` when an item reached a final outcome (exported, skipped or
    failed); ``day_failed(day)`` when a day page could not be read; ``halt()`` when the
    archive cannot be read any more (blocked).
    """

    def __init__(
        self,
        since: date,
        until: date,
        done: DaysDone,
        *,
        max_in_flight: int = 4,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if since > until:
            raise ValueError(f"since ({since}) is after until ({until})")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.since, self.until = since, until
        self.done = done
        self.max_in_flight = max_in_flight
        self.clock = clock
        self.stats: Counter[str] = Counter()
        self._cursor = since
        self._in_flight: dict[date, _Day] = {}
        self._days_of: dict[str, set[date]] = {}  # pending item → the in-flight days listing it
        # year → its calendar's day links; None: the year page failed (fallback URLs)
        self._calendars: dict[int, dict[date, str] | None] = {}
        self._absent: set[int] = set()  # years the site has no archive for
        self._asked: set[int] = set()  # years whose page was asked for
        self.halted = False

    # -- what to fetch ------------------------------------------------------------------

    def paris_today(self) -> date:
        return self.clock().astimezone(PARIS).date()

    def needs_calendar(self) -> int | None:
        """The year whose page must be read before the next day can be planned, if any."""
        day = None if self.halted else self._next_open_day()
        if day is None or day.year in self._calendars:
            return None
        return day.year

    def calendar_to_fetch(self) -> int | None:
        """``needs_calendar()``, once per year: the caller requests that year's page."""
        year = self.needs_calendar()
        if year is None or year in self._asked:
            return None
        self._asked.add(year)
        return year

    def next_days(self) -> list[PlannedDay]:
        """Days to fetch now: as many as there is room for, in date order.

        Stops at a year whose calendar is not known yet (``needs_calendar``). Days not
        linked by a calendar that was read have no items: they complete at once.
        """
        planned: list[PlannedDay] = []
        while len(self._in_flight) < self.max_in_flight and not self.halted:
            day = self._next_open_day()
            if day is None or day.year not in self._calendars:
                break
            self._cursor = day + timedelta(days=1)
            calendar = self._calendars[day.year]
            if day.year in self._absent:
                # No archive that year: nothing to read, and nothing to record as done.
                self.stats["days/no_archive"] += 1
                continue
            if calendar is not None and day not in calendar:
                self.stats["days/not_in_calendar"] += 1
                self._in_flight[day] = _Day(day, listed=True)
                self._complete(day)
                continue
            self._in_flight[day] = _Day(day)
            url = calendar.get(day) if calendar is not None else None
            if url is None:
                # No link from the site for this day: the caller builds the fallback URL.
                self.stats["days/fallback_url"] += 1
                logger.info("no calendar link for %s: the day page's URL is built", day)
            planned.append(PlannedDay(day, url))
        return planned

    def _next_open_day(self) -> date | None:
        last = min(self.until, self.paris_today())
        while self._cursor <= last:
            if not self.done.is_done(self._cursor):
                return self._cursor
            self.stats["days/skipped_done"] += 1
            self._cursor += timedelta(days=1)
        return None

    @property
    def finished(self) -> bool:
        """Nothing left to plan in this run and nothing in flight."""
        return (self.halted or self._next_open_day() is None) and not self._in_flight

    @property
    def cursor(self) -> date:
        """The first day not planned yet."""
        return self._cursor

    def halt(self) -> None:
        """Plan no more days (the archive is blocked); days in flight still settle."""
        self.halted = True

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # -- what the site answered ---------------------------------------------------------

    def calendar(
        self, year: int, links: Mapping[date, str] | None, *, absent: bool = False
    ) -> None:
        """A year page was read (its calendar's day links), or could not be (None), or
        the site has no archive for the year (``absent``: its days are skipped, not done)."""
        self._calendars[year] = None if links is None else dict(links)
        if absent:
            self._absent.add(year)
            self.stats["years/absent"] += 1
        else:
            self.stats["years/read" if links is not None else "years/failed"] += 1
        # Only the years of days still ahead are worth keeping.
        for old in [y for y in self._calendars if y < self._cursor.year]:
            if not any(d.year == old for d in self._in_flight):
                del self._calendars[old]
                self._absent.discard(old)

    def listed(self, day: date, items: Iterable[str]) -> None:
        """A day page was read: ``items`` are the canonical URLs it lists."""
        state = self._in_flight.get(day)
        if state is None:
            return
        state.listed = True
        for url in items:
            state.pending.add(url)
            self._days_of.setdefault(url, set()).add(day)
        self.stats["items/listed"] += len(state.pending)
        if not state.pending:
            self._complete(day)

    def settled(self, url: str, outcome: str = "exported") -> None:
        """An item reached a final outcome; its days may now be complete."""
        for day in self._days_of.pop(url, ()):
            state = self._in_flight.get(day)
            if state is None:
                continue
            state.pending.discard(url)
            if retry_later(outcome):
                state.retry = True
            elif outcome in CONFIRM:
                state.confirm.add(url)
            if state.listed and not state.pending:
                self._complete(day)

    def day_failed(self, day: date) -> None:
        """The day page could not be read: the day leaves flight, not done (a later run
        tries it again)."""
        state = self._in_flight.pop(day, None)
        if state is not None:
            self.stats["days/failed"] += 1
            self._forget(state)

    def release_stuck(self) -> list[date]:
        """Days in flight when nothing is left to download (the crawl is idle): an item
        of theirs will never get an outcome. They leave flight, not done."""
        stuck = sorted(self._in_flight)
        for day in stuck:
            self._forget(self._in_flight.pop(day))
        return stuck

    def _complete(self, day: date) -> None:
        state = self._in_flight.pop(day)
        self._forget(state)
        if day >= self.paris_today():
            # Paris has not finished publishing that day: read again next run.
            self.stats["days/open_today"] += 1
            return
        if state.retry:
            self.stats["days/incomplete"] += 1
            logger.info("archive day %s: an item may succeed later; read again next run", day)
            return
        self.done.mark_done(day, frozenset(state.confirm))
        self.stats["days/done"] += 1

    def _forget(self, state: _Day) -> None:
        for url in state.pending:
            days = self._days_of.get(url)
            if days is not None:
                days.discard(state.day)
                if not days:
                    del self._days_of[url]
