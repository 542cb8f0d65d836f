"""The backfill as the spider sees it: what to request next, what the site answered.

The spider finds the run's backfill with ``crawler.get_extension(Backfill)`` and imports
this module, not the extension's (``rfi_crawler.backfill_run``, which reaches the run and
the state store, code the spider never imports). ``BackfillExtension`` implements it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import date

    from rfi_crawler.backfill import ArchivePlanner, Source
    from rfi_crawler.extract.archive_pages import MonthlySitemap


class Backfill(ABC):
    """An ``archive=1`` run's guide through the site's archive: the spider requests what
    it names and reports each archive page's fate back to it."""

    ready: bool  # False until the run's state store is open: nothing to request yet
    planner: ArchivePlanner  # the year pages and day pages to request, in order

    # -- what to request next (asked by the spider) ---------------------------------------

    @abstractmethod
    def take_index(self) -> bool:
        """Whether to request the sitemap index now."""

    @abstractmethod
    def year_page(self, year: int) -> str | None:
        """The URL of the year's archive page, or None: the year has no archive."""

    @abstractmethod
    def next_month(self, idle: bool = False) -> MonthlySitemap | None:
        """The monthly sitemap to request now, if any (``idle``: the crawl ran dry)."""

    # -- what the site answered (told by the spider) --------------------------------------

    @abstractmethod
    def answered(self, source: Source) -> None:
        """A page of ``source`` answered."""

    @abstractmethod
    def aside(self, years: dict[int, str]) -> None:
        """An archive page's aside listed these years' pages."""

    @abstractmethod
    def year_read(self, year: int, links: dict[date, str]) -> None:
        """The year's page linked these day pages."""

    @abstractmethod
    def year_failed(self, year: int, reason: str) -> None:
        """The year's page could not be read (``reason``: a failure name)."""

    @abstractmethod
    def day_listed(self, day: date, items: list[str]) -> None:
        """The day's page listed these articles (about to be requested)."""

    @abstractmethod
    def day_failed(self, day: date, reason: str) -> None:
        """The day's page could not be read."""

    @abstractmethod
    def index_read(self, months: list[MonthlySitemap]) -> None:
        """The sitemap index listed these monthly sitemaps."""

    @abstractmethod
    def index_failed(self, reason: str) -> None:
        """The sitemap index could not be read."""

    @abstractmethod
    def month_read(self) -> None:
        """The monthly sitemap in flight was read."""

    @abstractmethod
    def month_failed(self, reason: str) -> None:
        """The monthly sitemap in flight could not be read."""
