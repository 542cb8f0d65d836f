"""The site's archive pages: year pages → day pages → items; the sitemap index → months.

Selectors are those three independent scrapers report (RFI_SITE.md, "Learned since"):
year pages ``/cn/档案资料库/<YYYY>/`` carry a calendar ``div.o-light-calendar ul li a``
and the archive-years aside ``li.o-aside-content__archive-years__year a`` ([seen] on the
2025 homepage); day pages list items in ``div.o-archive-day ul.o-archive-day__list li a``
(text = title). The day URL's exact form is unverified: dates come from the path's
``<YYYY>/<MM>/<DD>`` segments, never from the link text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from lxml import etree

from rfi_crawler import urls
from rfi_crawler.extract.page import text_of
from rfi_crawler.processors import clean_text

if TYPE_CHECKING:
    from parsel import Selector

XPath = etree.XPath

CALENDAR_LINKS = XPath(
    '/descendant::div[contains(@class, "o-light-calendar")]/descendant::ul/li/descendant::a[@href]'
)
YEAR_LINKS = XPath(
    '/descendant::li[contains(@class, "o-aside-content__archive-years__year")]/descendant::a[@href]'
)
DAY_ITEMS = XPath(
    '/descendant::div[contains(@class, "o-archive-day")]'
    '/descendant::ul[contains(@class, "o-archive-day__list")]/li/descendant::a[@href]'
)
# Whether a page has the part read at all: an answer without it is another page (the
# platform's shell, a changed layout), not a year or a day with nothing in it.
CALENDAR = XPath('/descendant::div[contains(@class, "o-light-calendar")]')
DAY_LIST = XPath(
    '/descendant::div[contains(@class, "o-archive-day")]'
    '/descendant::ul[contains(@class, "o-archive-day__list")]'
)
ARCHIVE = urls.ARCHIVE_SEGMENT
_YEAR_PATH = re.compile(rf"^/cn/{ARCHIVE}/(\d{{4}})/?$")
_DAY_PATH = re.compile(rf"^/cn/{ARCHIVE}/(\d{{4}})/(\d{{2}})/(\d{{2}})(?:-[^/]*)?/?$")
_MONTHLY_SITEMAP = re.compile(r"/contents_(\d{4})(\d{2})\.xml$")


@dataclass(frozen=True)
class DayLink:
    day: date
    url: str  # canonical URL of the day page, as the site links it


@dataclass(frozen=True)
class ArchiveItem:
    url: str  # canonical
    title: str | None


@dataclass(frozen=True)
class MonthlySitemap:
    year: int
    month: int
    url: str  # canonical

    def overlaps(self, since: date, until: date) -> bool:
        first = date(self.year, self.month, 1)
        return first <= until and (self.year, self.month) >= (since.year, since.month)


def year_of(path: str) -> int | None:
    match = _YEAR_PATH.match(path)
    return int(match.group(1)) if match else None


def day_of(path: str) -> date | None:
    """The date of a day page's path (``/cn/档案资料库/2019/03/05-…``), else None."""
    match = _DAY_PATH.match(path)
    if not match:
        return None
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def day_links(selector: Selector, page_url: str, base_url: str | None = None) -> list[DayLink]:
    """The day pages a year page's calendar links, in date order, each day once."""
    found: dict[date, DayLink] = {}
    for link in CALENDAR_LINKS(selector.root):
        path = urls.link_path(link.get("href", ""), page_url, base_url)
        day = day_of(path) if path else None
        if path is not None and day is not None and day not in found:
            found[day] = DayLink(day, urls.SITE_ORIGIN + urls.quote_path(path))
    return [found[d] for d in sorted(found)]


def year_links(selector: Selector, page_url: str, base_url: str | None = None) -> dict[int, str]:
    """Year → canonical URL of its year page, from the archive-years aside."""
    found: dict[int, str] = {}
    for link in YEAR_LINKS(selector.root):
        path = urls.link_path(link.get("href", ""), page_url, base_url)
        year = year_of(path) if path else None
        if path is not None and year is not None:
            found.setdefault(year, urls.SITE_ORIGIN + urls.quote_path(path))
    return dict(sorted(found.items()))


def day_items(selector: Selector, page_url: str, base_url: str | None = None) -> list[ArchiveItem]:
    """The items a day page lists, in page order, each once.

    The archive is the authority on what is an article: an item is any same-site /cn/ page
    that is not a known listing (``urls.archive_item_url``), whatever its URL form.
    """
    return day_items_and_others(selector, page_url, base_url)[0]


def day_items_and_others(
    selector: Selector, page_url: str, base_url: str | None = None
) -> tuple[list[ArchiveItem], int]:
    """``day_items``, and how many of the list's links are none (another host, such as the
    pre-2020 cn.rfi.fr, a listing): the caller counts what it passes over."""
    found: dict[str, ArchiveItem] = {}
    others = 0
    for link in DAY_ITEMS(selector.root):
        url = urls.archive_item_url(link.get("href", ""), page_url, base_url)
        if url is None:
            others += 1
        elif url not in found:
            title = clean_text(text_of(link)) or clean_text(link.get("title"))
            found[url] = ArchiveItem(url, title)
    return list(found.values()), others


def monthly_sitemap(url: str) -> MonthlySitemap | None:
    """A monthly content sitemap (``…/contents_YYYYMM.xml``) of a sitemap index, else None."""
    match = _MONTHLY_SITEMAP.search(url)
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 1990:
        return None
    return MonthlySitemap(year, month, url)


def monthly_sitemaps(sitemap_urls: list[str]) -> list[MonthlySitemap]:
    """The monthly content sitemaps among a sitemap index's children, oldest first, one a
    month (the first listed): an index naming a month under 400 paths is read once."""
    found: dict[tuple[int, int], MonthlySitemap] = {}
    for month in map(monthly_sitemap, sitemap_urls):
        if month is not None:
            found.setdefault((month.year, month.month), month)
    return [found[key] for key in sorted(found)]


def fallback_day_url(day: date) -> str:
    """A day page's URL built by hand: ``/cn/档案资料库/<YYYY>/<MM>/<DD>--``.

    Used ONLY when the site gives no link to that day (its year page is missing or
    blocked): a Chinese scraper requests this form and the part after ``<DD>-`` seems to be
    ignored by the site [reported, unverified]; the calendar's own links always win.
    """
    path = f"/cn/{ARCHIVE}/{day.year}/{day.month:02d}/{day.day:02d}--"
    return urls.SITE_ORIGIN + urls.quote_path(path)


def year_url(year: int) -> str:
    """A year page's URL (``/cn/档案资料库/<YYYY>/``, [seen] in the archive-years aside)."""
    return urls.SITE_ORIGIN + urls.quote_path(f"/cn/{ARCHIVE}/{year}/")
