"""The re-check schedule: when an exported article is fetched again to see whether RFI
edited or removed it.

An article is checked again at set ages after publication (by default 1 h, 6 h, 1 d, 3 d,
7 d and 30 d); a check done late covers every slot that has passed, so each slot costs at
most one fetch. Ages count from publication; an article first seen after its last slot
(a backfilled one) is never re-checked. A run re-checks at most a budget of articles, the
youngest first: young articles are the ones that change.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

DEFAULT_SCHEDULE = "1h,6h,1d,3d,7d,30d"
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
AGE = re.compile(r"^([0-9]{1,5})([mhd])$")  # ASCII digits: \d reads any script's


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """``"1h,6h,1d"`` → the ages, strictly increasing; ``ValueError`` names what is wrong."""
    ages = []
    for part in text.split(","):
        found = AGE.match(part.strip())
        if not found or int(found[1]) == 0:
            raise ValueError(f"{part.strip()!r} is not an age such as 30m, 6h or 7d")
        ages.append(int(found[1]) * UNITS[found[2]])
    if any(later <= earlier for earlier, later in pairwise(ages)):
        raise ValueError("ages must grow from one slot to the next")
    return tuple(ages)


def format_schedule(schedule: tuple[timedelta, ...]) -> str:
    """The schedule as ``parse_schedule`` reads it (``"off"`` when empty)."""
    parts = []
    for age in schedule:
        unit = next(u for u in ("d", "h", "m") if age % UNITS[u] == timedelta(0))
        parts.append(f"{age // UNITS[unit]}{unit}")
    return ",".join(parts) or "off"


def refresh_days_schedule(days: int) -> tuple[timedelta, ...]:
    """The deprecated ``RFI_REFRESH_DAYS=N`` as a schedule: the default schedule's ages
    below N days, then N days itself (0: no re-checks). The old window re-fetched a young
    article whenever a listing showed it; the schedule keeps its horizon, not its cost."""
    if days == 0:
        return ()
    horizon = days * UNITS["d"]
    return (*(age for age in parse_schedule(DEFAULT_SCHEDULE) if age < horizon), horizon)


@dataclass(frozen=True)
class CheckedArticle:
    """What the store knows of an exported article for re-checking."""

    url: str
    published_at: datetime | None
    first_seen_at: datetime
    last_checked_at: datetime


def slots_passed(schedule: tuple[timedelta, ...], published: datetime, moment: datetime) -> int:
    """How many of the schedule's ages the article had reached at ``moment``."""
    return bisect_right(schedule, moment - published)


def is_due(article: CheckedArticle, schedule: tuple[timedelta, ...], now: datetime) -> bool:
    """A slot has passed since the last check (the first fetch counts as a check)."""
    if article.published_at is None:
        return False  # no age to count from: the refresh=1 argument still reaches it
    if slots_passed(schedule, article.published_at, article.first_seen_at) >= len(schedule):
        return False  # first seen after its last slot: a backfilled article
    done = slots_passed(schedule, article.published_at, article.last_checked_at)
    return slots_passed(schedule, article.published_at, now) > done


def due(
    articles: Iterable[CheckedArticle],
    schedule: tuple[timedelta, ...],
    now: datetime,
    budget: int,
) -> list[CheckedArticle]:
    """The articles to re-check this run: due ones, youngest first, at most ``budget``."""
    found = [article for article in articles if is_due(article, schedule, now)]
    found.sort(key=lambda article: (article.published_at, article.url), reverse=True)
    return found[:budget]


def finished(article: CheckedArticle, schedule: tuple[timedelta, ...]) -> bool:
    """Every slot is covered (or the article came too late for any): the store can stop
    offering it, so the rows read for re-checking stay few however large the store grows."""
    if article.published_at is None:
        return True
    last = max(article.first_seen_at, article.last_checked_at)
    return slots_passed(schedule, article.published_at, last) >= len(schedule)
