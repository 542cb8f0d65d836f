"""ArchivePlanner: days handed out a few at a time, done only when settled and past."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest

from rfi_crawler.backfill import ArchivePlanner, PlannedDay


class MemoryDays:
    def __init__(self, done: set[date] | None = None) -> None:
        self.done: set[date] = set(done or ())
        self.marked: list[date] = []
        self.confirm: dict[date, frozenset[str]] = {}

    def is_done(self, day: date) -> bool:
        return day in self.done

    def mark_done(self, day: date, confirm: frozenset[str] = frozenset()) -> None:
        self.done.add(day)
        self.marked.append(day)
        self.confirm[day] = confirm


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


NOW = Clock(datetime(2025, 6, 1, 12, tzinfo=UTC))


def planner(since, until, done=None, clock=NOW, **kwargs) -> ArchivePlanner:
    return ArchivePlanner(since, until, done or MemoryDays(), clock=clock, **kwargs)


def link(day: date) -> str:
    return f"https://www.rfi.fr/cn/档案资料库/{day:%Y/%m/%d}-x"


def calendar_for(year: int, days: list[date]) -> dict[date, str]:
    return {d: link(d) for d in days if d.year == year}


def test_days_come_a_few_at_a_time_after_their_year_calendar():
    days = [date(2019, 12, 30), date(2019, 12, 31), date(2020, 1, 1), date(2020, 1, 2)]
    p = planner(days[0], days[-1], max_in_flight=2)
    assert p.needs_calendar() == 2019
    assert p.next_days() == []  # nothing before the calendar is read
    p.calendar(2019, calendar_for(2019, days))
    assert p.next_days() == [PlannedDay(d, link(d)) for d in days[:2]]
    assert p.next_days() == []  # no room
    p.listed(days[0], [])
    assert p.needs_calendar() == 2020  # asked for as soon as 2020 is next
    p.listed(days[1], ["a"])
    p.settled("a")
    p.calendar(2020, calendar_for(2020, days))
    assert [d.day for d in p.next_days()] == days[2:]
    for day in days[2:]:
        p.listed(day, [])
    assert p.finished
    assert p.done.marked == days


def test_a_day_is_done_only_when_every_listed_item_settled():
    day = date(2020, 3, 5)
    p = planner(day, day)
    p.calendar(2020, {day: link(day)})
    p.next_days()
    p.listed(day, ["a", "b", "a"])
    p.settled("a")
    p.settled("unknown")  # an item of no day in flight changes nothing
    assert p.done.marked == [] and not p.finished
    p.settled("b")
    assert p.done.marked == [day] and p.finished


def test_an_item_settled_before_its_day_page_is_read_does_not_complete_it():
    day = date(2020, 3, 5)
    p = planner(day, day)
    p.calendar(2020, {day: link(day)})
    p.next_days()
    p.settled("a")
    assert p.done.marked == []
    p.listed(day, ["a"])  # listed again: still pending until settled (again)
    assert p.done.marked == []
    p.settled("a")
    assert p.done.marked == [day]


def test_an_item_listed_by_two_days_settles_both():
    one, two = date(2020, 3, 5), date(2020, 3, 6)
    p = planner(one, two)
    p.calendar(2020, {one: link(one), two: link(two)})
    p.next_days()
    p.listed(one, ["a"])
    p.listed(two, ["a", "b"])
    p.settled("a")
    assert p.done.marked == [one]
    p.settled("b")
    assert p.done.marked == [one, two]


@pytest.mark.parametrize(
    ("now", "open_day"),
    [
        # 23:30 UTC on 31 May is already 1 June in Paris (UTC+2): 1 June is today there
        (datetime(2025, 5, 31, 23, 30, tzinfo=UTC), date(2025, 6, 1)),
        (datetime(2025, 6, 1, 12, tzinfo=UTC), date(2025, 6, 1)),
        # 22:30 UTC on 1 June is 00:30 on 2 June in Paris: 1 June is over
        (datetime(2025, 6, 1, 22, 30, tzinfo=UTC), date(2025, 6, 2)),
    ],
)
def test_today_in_paris_is_never_done(now, open_day):
    clock = Clock(now)
    since = date(2025, 5, 30)
    p = planner(since, date(2025, 6, 10), clock=clock)
    p.calendar(2025, None)  # year page blocked: fallback URLs
    planned = p.next_days()
    assert planned[-1].day == open_day  # nothing after today in Paris is planned
    assert all(d.url is None for d in planned)
    for d in planned:
        p.listed(d.day, [])
    assert p.done.marked == [d.day for d in planned if d.day < open_day]
    assert p.stats["days/open_today"] == 1
    assert p.finished  # for this run; the next run reads the open day again
    clock.now += timedelta(days=1)
    assert not p.finished


def test_resume_skips_done_days_and_counts_them():
    days = [date(2020, 1, d) for d in range(1, 8)]
    store = MemoryDays(done=set(days[:3]) | {days[4]})
    p = planner(days[0], days[-1], done=store)
    p.calendar(2020, calendar_for(2020, days))
    assert [d.day for d in p.next_days()] == [days[3], days[5], days[6]]
    assert p.stats["days/skipped_done"] == 4


def test_days_the_calendar_does_not_link_are_empty_and_done():
    days = [date(2020, 1, d) for d in range(1, 6)]
    p = planner(days[0], days[-1])
    p.calendar(2020, {days[2]: link(days[2])})
    assert p.next_days() == [PlannedDay(days[2], link(days[2]))]
    assert p.done.marked == [days[0], days[1], days[3], days[4]]
    assert p.stats["days/not_in_calendar"] == 4


def test_a_failed_day_is_not_done_and_leaves_room():
    one, two = date(2020, 1, 1), date(2020, 1, 2)
    p = planner(one, two, max_in_flight=1)
    p.calendar(2020, None)
    assert p.next_days() == [PlannedDay(one, None)]
    p.day_failed(one)
    assert p.next_days() == [PlannedDay(two, None)]
    p.listed(two, [])
    assert p.done.marked == [two]
    assert p.stats["days/failed"] == 1 and p.stats["days/fallback_url"] == 2


def test_memory_is_bounded_by_the_days_in_flight_not_the_window():
    # 20 years of days, each listing 30 items: only 4 days' worth is ever held.
    since, until = date(2006, 1, 1), date(2025, 12, 31)
    p = planner(since, until, clock=Clock(datetime(2026, 1, 1, tzinfo=UTC)))
    tracemalloc.start()
    try:
        while not p.finished:
            year = p.needs_calendar()
            if year is not None:
                p.calendar(year, None)
            for planned in p.next_days():
                items = [f"{planned.day}-{i}" for i in range(30)]
                p.listed(planned.day, items)
                for item in items:
                    p.settled(item, "skipped/known")  # nothing for the test's store to hold
            assert p.in_flight <= 4
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(p.done.marked) == (until - since).days + 1
    # the done set itself is the test's store; what the planner holds stays small
    assert peak < len(p.done.marked) * 200 + 2 * 2**20


@pytest.mark.parametrize(
    ("since", "until", "kwargs", "message"),
    [
        (date(2020, 2, 1), date(2020, 1, 1), {}, "after until"),
        (date(2020, 1, 1), date(2020, 2, 1), {"max_in_flight": 0}, "at least 1"),
    ],
)
def test_bad_arguments(since, until, kwargs, message):
    with pytest.raises(ValueError, match=message):
        planner(since, until, **kwargs)


# -- the planner, the archive extractors and the replica together (no spider yet) ---------

REPLICA_TODAY = date(2025, 12, 1)


def replica_backfill(site, since, until, store, *, stop_after_days=None):
    """Drive a planner over the replica as the spider will: calendars, day pages, items
    settled at once. Returns (items listed, day pages requested)."""
    from parsel import Selector

    from rfi_crawler import urls
    from rfi_crawler.extract import archive_pages as ap
    from tests.replica.server import ReplicaServer

    clock = Clock(datetime(2025, 12, 1, 12, tzinfo=UTC))
    p = ArchivePlanner(since, until, store, max_in_flight=3, clock=clock)
    server = ReplicaServer(site)
    listed, requested = set(), []
    try:
        while not p.finished:
            year = p.needs_calendar()
            if year is not None:
                status, _, body = server.route(urls.path_of(ap.year_url(year)))
                links = None
                if status == 200:
                    found = ap.day_links(Selector(text=body), ap.year_url(year))
                    links = {d.day: d.url for d in found}
                p.calendar(year, links)
            days = p.next_days()
            if not (days or p.finished or p.in_flight or p.needs_calendar()):
                break  # no progress possible: a bug in the planner
            for planned in days:
                url = planned.url or ap.fallback_day_url(planned.day)
                requested.append(planned.day)
                status, _, body = server.route(urls.path_of(url))
                if status != 200:
                    p.day_failed(planned.day)
                    continue
                items = [i.url for i in ap.day_items(Selector(text=body), url)]
                p.listed(planned.day, items)
                for item in items:
                    listed.add(urls.path_of(item))
                    p.settled(item)
                if stop_after_days is not None and len(requested) >= stop_after_days:
                    return listed, requested  # killed: nothing more is marked
    finally:
        server.httpd.server_close()
    return listed, requested


@pytest.fixture(scope="module")
def replica():
    from tests.replica.site import ReplicaSite

    return ReplicaSite(
        articles=60, seed=3, today=REPLICA_TODAY, years=(2006, 2025), past_per_year=10
    )


def test_a_window_through_the_calendar_lists_exactly_its_articles(replica):
    since, until = date(2020, 1, 1), date(2021, 12, 31)
    store = MemoryDays()
    listed, requested = replica_backfill(replica, since, until, store)
    assert listed == replica.expected_in_window(since, until)
    assert len(requested) == len({d for d in replica.past.days_with_items() if since <= d <= until})
    assert len(store.done) == (until - since).days + 1


def test_with_the_year_pages_blocked_the_built_day_urls_carry_on(replica):
    since, until = date(2021, 3, 1), date(2021, 6, 30)
    replica.past.status["year"] = 403
    try:
        listed, requested = replica_backfill(replica, since, until, MemoryDays())
    finally:
        replica.past.status.clear()
    assert listed == replica.expected_in_window(since, until)
    assert len(requested) == (until - since).days + 1  # every day, by its built URL


def test_a_stopped_backfill_resumes_without_reading_a_done_day_again(replica):
    since, until = date(2019, 1, 1), date(2021, 12, 31)
    store = MemoryDays()
    first, _ = replica_backfill(replica, since, until, store, stop_after_days=7)
    done_then = set(store.done)
    second, after = replica_backfill(replica, since, until, store)
    assert first | second == replica.expected_in_window(since, until)
    assert not done_then & set(after)


# -- outcomes: which leave a day to be read again, which the store must confirm ----------


@pytest.mark.parametrize(
    ("outcome", "done", "confirm"),
    [
        ("exported", True, {"a"}),
        ("skipped/claimed_by_other_run", True, {"a"}),
        ("earlier", True, {"a"}),
        ("unchanged", True, set()),
        ("skipped/known", True, set()),
        ("skipped/outside_window", True, set()),
        ("skipped/robots", True, set()),
        ("failed/http_404", True, set()),
        ("failed/no_article", True, set()),
        ("failed/http_5xx", False, None),
        ("failed/timeout", False, None),
        ("failed/http_403", False, None),
        ("failed/connection", False, None),
        ("failed/state_error", False, None),
        ("cancelled", False, None),
    ],
)
def test_an_outcome_that_may_change_leaves_the_day_to_the_next_run(outcome, done, confirm):
    day = date(2020, 3, 5)
    p = planner(day, day)
    p.calendar(2020, {day: link(day)})
    p.next_days()
    p.listed(day, ["a", "b"])
    p.settled("b", "skipped/known")
    p.settled("a", outcome)
    assert p.finished  # either way the day leaves flight: the run does not hang on it
    assert p.done.marked == ([day] if done else [])
    if done:
        assert p.done.confirm[day] == confirm
    else:
        assert p.stats["days/incomplete"] == 1


def test_a_year_without_archive_is_skipped_and_not_recorded():
    days = [date(2007, 12, 30), date(2007, 12, 31), date(2008, 1, 1)]
    p = planner(days[0], days[-1])
    assert p.calendar_to_fetch() == 2007
    assert p.calendar_to_fetch() is None  # asked once
    p.calendar(2007, {}, absent=True)
    assert p.next_days() == []
    assert p.calendar_to_fetch() == 2008
    p.calendar(2008, {days[2]: link(days[2])})
    assert p.next_days() == [PlannedDay(days[2], link(days[2]))]
    assert p.stats["days/no_archive"] == 2 and p.done.marked == []


def test_a_halted_planner_plans_nothing_more_but_settles_its_days():
    days = [date(2020, 1, d) for d in range(1, 6)]
    p = planner(days[0], days[-1], max_in_flight=2)
    p.calendar(2020, None)
    assert len(p.next_days()) == 2
    p.halt()
    assert p.next_days() == [] and p.needs_calendar() is None and not p.finished
    p.listed(days[0], [])
    p.day_failed(days[1])
    assert p.finished and p.done.marked == [days[0]]
