"""Which known pages are downloaded again: the re-check plan, on a fake clock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from rfi_crawler import signals as rfi_signals
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.recheck import DEFAULT_SCHEDULE, parse_schedule
from rfi_crawler.refresh import RefreshExtension
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.crawling import built_crawler

URL = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261120-x"
PUBLISHED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
FIRST_SEEN = (PUBLISHED + timedelta(minutes=20)).isoformat()  # before the 1 h slot
SCHEDULE = parse_schedule(DEFAULT_SCHEDULE)
H, D = timedelta(hours=1), timedelta(days=1)


@pytest.fixture
def store(tmp_path):
    store = SqliteStateStore(tmp_path / "s.sqlite3")
    record = {
        "id": "a",
        "url": URL,
        "content_hash": "0" * 64,
        "published_at": PUBLISHED.isoformat(),
        "modified_at": None,
        "related": [{"url": "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261109-y", "title": "y"}],
    }
    store.claim(record, "r", FIRST_SEEN)
    store.commit([("a", 1)], "r", FIRST_SEEN)
    yield store
    store.close()


def policy(store, age, refresh=False, budget=10, schedule=SCHEDULE):
    found = RefreshPolicy(store, schedule, budget, refresh, PUBLISHED + age)
    found.plan()
    return found


@pytest.mark.parametrize(
    ("age", "refresh", "skipped"),
    [
        (30 * timedelta(minutes=1), False, True),  # no slot passed since the first fetch
        (2 * H, False, False),  # the 1 h slot: due, so re-checked, not skipped
        (2 * H, True, False),
        (40 * D, False, False),  # a late check still covers the last slot
        (62 * D, False, True),  # past twice the last age: no longer read for re-checks
        (30 * timedelta(minutes=1), True, False),  # refresh=1 fetches everything found
    ],
)
def test_known_pages_are_downloaded_again_only_when_due(store, age, refresh, skipped):
    found = policy(store, age, refresh)
    assert (found.skip([URL]).get(URL) is not None) is skipped
    assert found.rechecks == ([] if skipped else [URL]) or refresh


def test_a_skipped_known_page_keeps_its_related_links(store):
    known = policy(store, 10 * timedelta(minutes=1)).skip([URL])[URL]
    assert known.related == ("https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261109-y",)


def test_a_check_covers_every_slot_passed_so_each_costs_one_fetch(store):
    assert policy(store, 7 * H).rechecks == [URL]
    store.claim(
        {"id": "a", "url": URL, "content_hash": "0" * 64, "published_at": PUBLISHED.isoformat()},
        "r2",
        (PUBLISHED + 7 * H).isoformat(),
    )
    assert policy(store, 20 * H).rechecks == []  # 1 h and 6 h covered by that one check
    assert policy(store, 25 * H).rechecks == [URL]  # the 1 d slot


def test_the_budget_goes_to_the_youngest(tmp_path):
    store = SqliteStateStore(tmp_path / "s.sqlite3")
    for n in range(5):
        published = PUBLISHED + n * H
        record = {
            "id": f"a{n}",
            "url": f"{URL}-{n}",
            "content_hash": "0" * 64,
            "published_at": published.isoformat(),
        }
        seen = (published + timedelta(minutes=5)).isoformat()
        store.claim(record, "r", seen)
        store.commit([(f"a{n}", 1)], "r", seen)
    found = policy(store, 10 * H, budget=2)
    assert found.due_count == 5
    assert found.rechecks == [f"{URL}-4", f"{URL}-3"]
    assert policy(store, 10 * H, budget=0).rechecks == []
    store.close()


def test_unknown_pages_are_always_fetched(store):
    assert policy(store, 40 * D).skip([URL + "-new"]) == {}


def test_a_batch_of_urls_is_one_store_query(store):
    """Reads stay off the hot path: one query per listing page, not one per URL."""
    planned = policy(store, 30 * timedelta(minutes=1))
    queries = []
    store.db.set_trace_callback(queries.append)
    found = [URL, *(f"{URL}-{n}" for n in range(300)), URL]
    assert list(planned.skip(found)) == [URL]
    assert len([q for q in queries if q.lstrip().upper().startswith("SELECT")]) == 1


def test_known_many_agrees_with_known(store):
    urls = [URL, URL + "-new"]
    assert store.known_many(urls) == {URL: store.known(URL)}
    assert store.known_many([]) == {}


def test_a_store_error_while_reading_stops_the_run_and_downloads_the_batch(store, monkeypatch):
    crawler = built_crawler()
    policy = crawler.get_extension(RefreshExtension)
    policy.store_opened(store)
    assert list(policy.skip([URL])) == [URL]  # nothing planned: a known page is skipped
    failures = []

    def store_failed(error):
        failures.append(error)

    crawler.signals.connect(store_failed, rfi_signals.store_failed)

    def corrupt(urls):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(store, "known_many", corrupt)
    assert policy.skip([URL]) == {}  # downloaded rather than skipped on a guess
    assert policy.skip([URL]) == {}  # and the broken store is not asked again
    assert len(failures) == 1


@pytest.mark.parametrize(
    ("first_seen_age", "checks"),
    [
        (20 * timedelta(minutes=1), 6),  # every slot: 1 h, 6 h, 1 d, 3 d, 7 d, 30 d
        (2 * D, 3),  # seen at 2 days: 3 d, 7 d and 30 d are left
        (8 * D, 1),  # only 30 d
        (31 * D, 0),  # first seen past its last slot (backfilled): never re-checked
    ],
)
def test_hourly_runs_over_forty_days_check_each_slot_once(tmp_path, first_seen_age, checks):
    store = SqliteStateStore(tmp_path / "s.sqlite3")
    found = {"id": "a", "url": URL, "content_hash": "0" * 64, "published_at": PUBLISHED.isoformat()}
    seen = PUBLISHED + first_seen_age
    store.claim(found, "r0", seen.isoformat())
    store.commit([("a", 1)], "r0", seen.isoformat())
    fetched = 0
    for hour in range(1, 40 * 24):
        now = seen + hour * H
        planned = RefreshPolicy(store, SCHEDULE, 100, False, now).plan()
        for url in planned:
            fetched += 1
            assert store.claim({**found, "url": url}, f"r{hour}", now.isoformat()).version == 1
    assert fetched == checks
    store.close()
