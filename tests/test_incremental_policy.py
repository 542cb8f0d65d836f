"""Which known pages are not downloaded again."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from rfi_crawler import signals as rfi_signals
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.refresh import RefreshExtension
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.crawling import built_crawler

URL = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261110-x"
NOW = "2026-11-25T10:00:00+00:00"


@pytest.fixture
def store(tmp_path):
    store = SqliteStateStore(tmp_path / "s.sqlite3")
    record = {
        "id": "a",
        "url": URL,
        "content_hash": "0" * 64,
        "published_at": "2026-11-20T23:30:00+00:00",
        "modified_at": None,
        "related": [{"url": "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261109-y", "title": "y"}],
    }
    store.claim(record, "r", NOW)
    store.commit([("a", 1)], "r", NOW)
    yield store
    store.close()


@pytest.mark.parametrize(
    ("today", "days", "refresh", "skipped"),
    [
        (date(2026, 11, 23), 3, False, False),  # 3 days old: still inside the window
        (date(2026, 11, 24), 3, False, True),  # 4 days old (stored date, not the URL's)
        (date(2026, 11, 24), 3, True, False),  # refresh=1 fetches everything
        (date(2026, 11, 21), 0, False, True),
    ],
)
def test_known_pages_older_than_the_window_are_skipped(store, today, days, refresh, skipped):
    known = RefreshPolicy(store, days, refresh, today).skip([URL]).get(URL)
    assert (known is not None) is skipped
    if known:
        assert known.related == ("https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261109-y",)


def test_unknown_pages_are_always_fetched(store):
    assert RefreshPolicy(store, 0, False, date(2030, 1, 1)).skip([URL + "-new"]) == {}


def test_a_batch_of_urls_is_one_store_query(store):
    """Reads stay off the hot path: one query per listing page, not one per URL."""
    queries = []
    store.db.set_trace_callback(queries.append)
    found = [URL, *(f"{URL}-{n}" for n in range(300)), URL]
    skipped = RefreshPolicy(store, 0, False, date(2030, 1, 1)).skip(found)
    assert list(skipped) == [URL]
    assert len([q for q in queries if q.lstrip().upper().startswith("SELECT")]) == 1


def test_known_many_agrees_with_known(store):
    urls = [URL, URL + "-new"]
    assert store.known_many(urls) == {URL: store.known(URL)}
    assert store.known_many([]) == {}


def test_a_store_error_while_reading_stops_the_run_and_downloads_the_batch(store, monkeypatch):
    crawler = built_crawler()
    policy = crawler.get_extension(RefreshExtension)
    policy.store_opened(store)
    policy.today, policy.refresh_days = date(2030, 1, 1), 0
    assert list(policy.skip([URL])) == [URL]
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
