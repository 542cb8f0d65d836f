"""RSS feeds and sitemaps: the content URLs they list.

Both are parsed with parsers that never resolve entities (parsel's SafeXMLParser for RSS,
lxml's iterparse for sitemaps), so an entity bomb is read as plain text. Sitemaps are read
incrementally and yield their entries lazily: a 100,000-URL sitemap costs the memory of
one entry at a time, not of a tree and two lists (issue 10, item 15).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO

from lxml import etree
from parsel import Selector

from rfi_crawler import urls

# sitemaps.org caps a sitemap at 50 MB uncompressed (and 50,000 URLs; RFI's may list more,
# so only the bytes are bounded). A larger body is refused, never read in part silently.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})
ItemRule = Callable[[str, str, "str | None"], "str | None"]


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


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    kind: str  # "article" (an entry of a urlset) or "sitemap" (a child of an index)
    url: str  # canonical
    lastmod: str | None  # as the sitemap writes it, unparsed


def sitemap_links(body: bytes, page_url: str, base_url: str | None = None) -> SitemapLinks:
    """Content URLs of a urlset, or the sitemaps of a sitemap index (whole lists)."""
    articles: dict[str, None] = {}
    sitemaps: dict[str, None] = {}
    for entry in iter_sitemap(body, page_url, base_url):
        (articles if entry.kind == "article" else sitemaps)[entry.url] = None
    return SitemapLinks(list(articles), list(sitemaps))


def iter_sitemap(
    body: bytes,
    page_url: str,
    base_url: str | None = None,
    item_rule: ItemRule = urls.canonical_content_url,
) -> Iterator[SitemapEntry]:
    """The entries of a urlset or a sitemap index, one at a time, in document order.

    ``item_rule`` turns a ``<url><loc>`` into a canonical URL or None (skipped): the
    content rule by default, ``urls.archive_item_url`` for the monthly content sitemaps,
    which are an authority on what is an article. Not deduplicated (the frontier is).
    Raises ``MalformedFeedError`` before the first entry when the body is no sitemap;
    a body cut short yields the entries before the cut (lxml's recover mode).
    """
    if len(body) > MAX_SITEMAP_BYTES:
        raise MalformedFeedError(f"sitemap of {len(body)} bytes, over {MAX_SITEMAP_BYTES}")
    if not body.strip():
        raise MalformedFeedError("not a sitemap: empty body")
    events = etree.iterparse(
        BytesIO(body),
        events=("start", "end"),
        recover=True,
        resolve_entities=False,
        huge_tree=False,  # libxml2's limits on depth and text size stay on
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root: str | None = None
        loc: str | None = None
        lastmod: str | None = None
        for event, element in events:
            name = _local_name(element.tag)
            if root is None:
                root = name
                if root not in SITEMAP_ROOTS:
                    raise MalformedFeedError(f"not a sitemap: its root element is <{root}>")
                continue
            if event == "start":
                continue
            if name == "loc" and element.getparent() is not None:
                parent = _local_name(element.getparent().tag)
                if parent in ("url", "sitemap"):
                    loc = (element.text or "").strip() or None
            elif name == "lastmod":
                lastmod = (element.text or "").strip() or None
            elif name in ("url", "sitemap"):
                entry = _entry(root, loc, lastmod, page_url, base_url, item_rule)
                loc = lastmod = None
                # Free what is read: the tree never holds more than the current entry.
                element.clear(keep_tail=False)
                while element.getprevious() is not None:
                    del element.getparent()[0]
                if entry is not None:
                    yield entry
    except etree.LxmlError as exc:
        raise MalformedFeedError(f"not a sitemap: {exc}") from exc
    if root is None:
        raise MalformedFeedError("not a sitemap: no root element")


def _entry(
    root: str,
    loc: str | None,
    lastmod: str | None,
    page_url: str,
    base_url: str | None,
    item_rule: ItemRule,
) -> SitemapEntry | None:
    if loc is None:
        return None
    if root == "sitemapindex":
        child = urls.resolve_link(loc, page_url, base_url)
        return None if child is None else SitemapEntry("sitemap", child, lastmod)
    url = item_rule(loc, page_url, base_url)
    return None if url is None else SitemapEntry("article", url, lastmod)


def _local_name(tag: object) -> str:
    # Comments and processing instructions have a non-string tag; they are removed anyway.
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
