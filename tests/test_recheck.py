"""The re-check schedule, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rfi_crawler.recheck import (
    DEFAULT_SCHEDULE,
    CheckedArticle,
    due,
    finished,
    is_due,
    parse_schedule,
)

SCHEDULE = parse_schedule(DEFAULT_SCHEDULE)
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)


def article(url="a", published=T0, first_seen=T0 + 10 * timedelta(minutes=1), checked=None):
    return CheckedArticle(url, published, first_seen, checked or first_seen)


def test_the_default_schedule():
    assert SCHEDULE == (H, 6 * H, D, 3 * D, 7 * D, 30 * D)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not an age"),
        ("1h,,6h", "not an age"),
        ("0h", "not an age"),
        ("-1h", "not an age"),
        ("1w", "not an age"),
        ("6h,1h", "must grow"),
        ("1d,24h", "must grow"),
    ],
)
def test_bad_schedules_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_an_article_is_checked_once_per_slot_as_the_clock_moves():
    # An hourly crawl from publication on: each check covers the slots passed so far.
    state = article()
    checks = []
    now = T0
    while now < T0 + 40 * D:
        now += H
        if is_due(state, SCHEDULE, now):
            checks.append(now - T0)
            state = CheckedArticle(state.url, state.published_at, state.first_seen_at, now)
    assert checks == [H, 6 * H, D, 3 * D, 7 * D, 30 * D]
    assert finished(state, SCHEDULE)


def test_a_late_check_covers_every_slot_that_passed():
    state = article()
    now = T0 + 4 * D  # the crawler was down since the first fetch
    assert is_due(state, SCHEDULE, now)
    state = CheckedArticle(state.url, state.published_at, state.first_seen_at, now)
    assert not is_due(state, SCHEDULE, now + 2 * D)  # 1h, 6h, 1d and 3d done at once
    assert is_due(state, SCHEDULE, now + 3 * D)  # 7d


def test_a_backfilled_article_first_seen_after_its_last_slot_is_never_rechecked():
    old = article(published=T0 - 400 * D, first_seen=T0)
    assert not is_due(old, SCHEDULE, T0 + 365 * D)
    assert finished(old, SCHEDULE)
    # Seen at 10 days old: only the 30 d slot is left.
    young = article(published=T0 - 10 * D, first_seen=T0)
    assert not is_due(young, SCHEDULE, T0 + 19 * D)
    assert is_due(young, SCHEDULE, T0 + 20 * D)


def test_an_undated_article_is_left_to_refresh():
    undated = CheckedArticle("u", None, T0, T0)
    assert not is_due(undated, SCHEDULE, T0 + 100 * D)
    assert finished(undated, SCHEDULE)


def test_the_budget_goes_to_the_youngest_first():
    now = T0 + 40 * D
    articles = [
        article(url=f"a{n}", published=now - n * 2 * H, first_seen=now - n * 2 * H)
        for n in range(1, 11)
    ]
    chosen = due(articles, SCHEDULE, now, budget=3)
    assert [a.url for a in chosen] == ["a1", "a2", "a3"]
    assert len(due(articles, SCHEDULE, now, budget=100)) == 10
    assert due(articles, SCHEDULE, now, budget=0) == []
