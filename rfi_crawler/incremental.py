"""Which known articles are downloaded again (scope: every run sharing the store)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rfi_crawler.recheck import CheckedArticle, due

if TYPE_CHECKING:
    from rfi_crawler.state import CheckState, KnownArticle, StateStore


class RefreshPolicy:
    """A known article is downloaded again only when the re-check schedule
    (``rfi_crawler.recheck``) says so: ``plan`` picks this run's re-checks once — articles
    whose removal awaits a second check first, then due ones youngest first, at most
    ``budget`` — and the spider requests them whether or not a listing shows them. Any
    other known article a listing shows is not downloaded again (its stored related links
    still lead on), unless it was recorded removed: then it is fetched to see whether it
    is back. Listing pages, feeds and sitemaps are always read, so new articles are
    still found. ``refresh`` downloads everything found again (and still exports only what
    changed). One store query per batch of URLs (a listing page)."""

    def __init__(
        self,
        store: StateStore | None,
        schedule: tuple[timedelta, ...],
        budget: int,
        refresh: bool,
        now: datetime,
    ) -> None:
        self.store = store
        self.schedule, self.budget, self.refresh, self.now = schedule, budget, refresh, now
        self.rechecks: list[str] = []  # this run's re-checks, once planned
        self.due_count = 0  # due this run before the budget cut

    def plan(self) -> list[str]:
        """This run's re-checks (canonical URLs), in the order they should be fetched."""
        if self.store is None:
            return []
        horizon = self.schedule[-1] if self.schedule else timedelta(0)
        # Articles past twice the last age are not read (the rows stay few as the store
        # grows): a crawl stopped that long misses their last check. By day, as text.
        since = (self.now - 2 * horizon - timedelta(days=1)).date().isoformat()
        states = self.store.recheck_candidates(since)
        confirm = sorted(
            (s for s in states if s.unconfirmed), key=lambda s: (s.published_at or "", s.url)
        )
        articles = [a for s in states if not s.unconfirmed and (a := _checked(s)) is not None]
        scheduled = due(articles, self.schedule, self.now, len(articles))
        self.due_count = len(confirm) + len(scheduled)
        chosen = [s.url for s in reversed(confirm)] + [a.url for a in scheduled]
        self.rechecks = list(dict.fromkeys(chosen))[: self.budget]
        return self.rechecks

    def skip(self, found: list[str]) -> dict[str, KnownArticle]:
        """The stored article of each URL that need not be downloaded."""
        if self.refresh or not found or self.store is None:
            return {}
        known = self.store.known_many(list(dict.fromkeys(found)))
        wanted = set(self.rechecks)
        # A removed article met again is fetched: a page linking it may mean it is back.
        return {
            url: article
            for url, article in known.items()
            if url not in wanted and not article.removed
        }


def _checked(state: CheckState) -> CheckedArticle | None:
    """The schedule's view of a stored article; None when a time does not parse (it is
    then never re-checked, as an article without a publication time)."""
    try:
        published = datetime.fromisoformat(state.published_at) if state.published_at else None
        first_seen = datetime.fromisoformat(state.first_seen)
        last_checked = datetime.fromisoformat(state.last_checked)
    except ValueError:
        return None
    if published is None or published.tzinfo is None:
        return None
    return CheckedArticle(state.url, published, first_seen, last_checked)
