"""RSS feeds and sitemaps: the content URLs they list.

Both are parsed with parsers that never resolve entities (parsel's SafeXMLParser, Scrapy's
``Sitemap``), so an entity bomb is read as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass

from parsel import Selector
from scrapy.utils.sitemap import Sitemap

from rfi_crawler import urls


class MalformedFeedError(ValueError):
    """The body is not a feed or sitemap this module can read."""


@dataclass(frozen=True)
class SitemapLinks:
    articles: list[str]  # canonical content URLs
    sitemaps: list[str]  # canonical URLs of child sitemaps (from a sitemap index)


def rss_links(body: bytes, page_url: str, base_url: str | None = None) -> list[str]:
    """Canonical content URLs of an RSS 2.0 or Atom feed's items, in feed order."""
    if not body.strip():
        return []  # an empty answer lists nothing (parsel refuses an empty body)
    feed = Selector(body=body, type="xml")
    feed.remove_namespaces()
    hrefs = feed.xpath("//item/link/text() | //entry/link/@href").getall()
    found = (urls.canonical_content_url(h, page_url, base_url) for h in hrefs)
    return list(dict.fromkeys(u for u in found if u))


def sitemap_links(body: bytes, page_url: str, base_url: str | None = None) -> SitemapLinks:
    """Content URLs of a urlset, or the sitemaps of a sitemap index."""
    try:
        sitemap = Sitemap(body)
        locations = [entry["loc"] for entry in sitemap if entry.get("loc")]
    except (StopIteration, ValueError, SyntaxError) as exc:  # lxml errors derive from these
        raise MalformedFeedError(f"not a sitemap: {exc!r}") from exc
    if sitemap.type not in ("urlset", "sitemapindex"):
        raise MalformedFeedError(f"not a sitemap: its root element is <{sitemap.type}>")
    if sitemap.type == "sitemapindex":
        children = (urls.resolve_link(loc, page_url, base_url) for loc in locations)
        return SitemapLinks([], list(dict.fromkeys(u for u in children if u)))
    found = (urls.canonical_content_url(loc, page_url, base_url) for loc in locations)
    return SitemapLinks(list(dict.fromkeys(u for u in found if u)), [])
