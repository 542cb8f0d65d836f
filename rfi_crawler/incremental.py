"""Whether article pages need downloading again (scope: every run sharing the store)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from rfi_crawler import urls

if TYPE_CHECKING:
    from rfi_crawler.state import KnownArticle, StateStore


class RefreshPolicy:
    """Pages the store already holds are not downloaded again once older than
    ``refresh_days`` (judged by the stored publication date, else the URL's date): their
    content no longer changes in practice. Listing pages, feeds and sitemaps are always
    read, so new articles are still found. ``refresh`` downloads everything again (and
    still exports only what changed). One store query per batch of URLs (a listing page)."""

    def __init__(
        self, store: StateStore | None, refresh_days: int, refresh: bool, today: date
    ) -> None:
        self.store = store
        self.refresh_days, self.refresh, self.today = refresh_days, refresh, today

    def skip(self, found: list[str]) -> dict[str, KnownArticle]:
        """The stored article of each URL that need not be downloaded.

        Their stored related links let the crawl go on through them without the page.
        """
        if self.refresh or not found or self.store is None:
            return {}
        known = self.store.known_many(list(dict.fromkeys(found)))
        return {url: article for url, article in known.items() if self._old(url, article)}

    def _old(self, url: str, known: KnownArticle) -> bool:
        published = (
            datetime.fromisoformat(known.published_at).date()
            if known.published_at
            else urls.date_in_path(urls.path_of(url))
        )
        return published is not None and (self.today - published).days > self.refresh_days
