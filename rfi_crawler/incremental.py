"""Whether an article page needs downloading again (scope: every run sharing the store)."""

from __future__ import annotations

from datetime import date, datetime

from rfi_crawler import urls
from rfi_crawler.state import KnownArticle, StateStore


class RefreshPolicy:
    """Pages the store already holds are not downloaded again once older than
    ``refresh_days`` (judged by the stored publication date, else the URL's date): their
    content no longer changes in practice. Listing pages, feeds and sitemaps are always
    read, so new articles are still found. ``refresh`` downloads everything again (and
    still exports only what changed)."""

    def __init__(self, store: StateStore, refresh_days: int, refresh: bool, today: date) -> None:
        self.store = store
        self.refresh_days, self.refresh, self.today = refresh_days, refresh, today

    def skip(self, url: str) -> KnownArticle | None:
        """The stored article when ``url`` need not be downloaded, else None.

        Its stored related links let the crawl go on through it without the page.
        """
        if self.refresh:
            return None
        known = self.store.known(url)
        if known is None:
            return None
        published = (
            datetime.fromisoformat(known.published_at).date()
            if known.published_at
            else urls.date_in_path(urls.path_of(url))
        )
        old = published is not None and (self.today - published).days > self.refresh_days
        return known if old else None
