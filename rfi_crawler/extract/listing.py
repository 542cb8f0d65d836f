"""Listing pages (homepage, sections, keyword hubs): the content they link, the sections
in their navigation, their pager and their feed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from rfi_crawler import urls
from rfi_crawler.extract.page import text_of
from rfi_crawler.processors import clean_text

if TYPE_CHECKING:
    from parsel import Selector

XPath = etree.XPath

TEASER_LINKS = XPath("/descendant::a[@data-article-item-link]")
NEWS_FEED_LINKS = XPath(
    '/descendant::div[contains(@class, "m-item-news-feed")]/descendant::a[@href]'
)
ALL_LINKS = XPath("/descendant::a[@href]")
ALL_HREFS = XPath("/descendant::a/@href")
# The header's burger menu and site navs list the sections (seen on the homepage).
NAV_LINKS = XPath(
    '/descendant::*[contains(@class, "m-burger-list")]/descendant::a/@href'
    ' | /descendant::nav[contains(@class, "o-site-nav")]/descendant::a/@href'
)


@dataclass(frozen=True)
class ListingLink:
    url: str  # canonical
    title: str | None
    kind: str  # "teaser", "news_feed" or "other"


def content_links(
    selector: Selector, page_url: str, base_url: str | None = None
) -> list[ListingLink]:
    """Distinct content pages a listing links, in page order.

    Teasers (``a[data-article-item-link]``) and the rolling-news block are the listing's
    own items; any other link to a content page is kept as ``other`` so a markup change
    cannot hide articles (the spider counts them).
    """
    root = selector.root
    found: dict[str, ListingLink] = {}
    # A link met again (a teaser is also a link) changes nothing; an href met again (a
    # teaser's picture and title link alike) has the same canonical URL.
    seen: set[etree._Element] = set()
    canonical: dict[str, str | None] = {}
    for kind, links in (
        ("teaser", TEASER_LINKS(root)),
        ("news_feed", NEWS_FEED_LINKS(root)),
        ("other", ALL_LINKS(root)),
    ):
        for link in links:
            if link in seen:
                continue
            seen.add(link)
            href = link.get("href", "")
            if href not in canonical:
                canonical[href] = urls.canonical_content_url(href, page_url, base_url)
            url = canonical[href]
            if url is None:
                continue
            known = found.get(url)
            if known is not None and known.title is not None:
                continue
            title = clean_text(text_of(link)) or clean_text(link.get("title"))
            if known is None:
                found[url] = ListingLink(url, title, kind)
            elif title:
                found[url] = ListingLink(url, title, known.kind)
    return list(found.values())


def section_links(selector: Selector, page_url: str, base_url: str | None = None) -> list[str]:
    """Canonical URLs of the sections in the navigation, in menu order."""
    sections = []
    for href in NAV_LINKS(selector.root):
        url = urls.resolve_link(href, page_url, base_url)
        if url and urls.is_section_path(urls.path_of(url)) and url not in sections:
            sections.append(url)
    return sections


def pager_links(
    selector: Selector, page_url: str, listing_url: str, base_url: str | None = None
) -> dict[int, str]:
    """Page number → canonical URL of every page of ``listing_url``'s pager linked here.

    The pager's markup is not known for the Chinese site ([guess] ``/cn/中国/2/``), so any
    link of the form ``<listing>/<n>/`` counts, wherever it stands.
    """
    listing_path = urls.path_of(listing_url)
    pages: dict[int, str] = {}
    # Each href once (a listing repeats most of its links), first met first.
    for href in dict.fromkeys(ALL_HREFS(selector.root)):
        # A page of a pager ends with its number: the other links (nearly all) stop here,
        # before their path is quoted into a URL and read back (``resolve_link`` in two).
        path = urls.link_path(href, page_url, base_url)
        if path is None or not path.rstrip("/")[-1:].isdigit():
            continue
        url = urls.url_of_path(path)
        number = urls.listing_page_number(urls.path_of(url), listing_path)
        if number and number > 1:
            pages.setdefault(number, url)
    return pages
