"""RSS and sitemap parsing."""

from __future__ import annotations

import tracemalloc
from datetime import date

import pytest

from rfi_crawler import urls
from rfi_crawler.extract import feeds
from rfi_crawler.extract.feeds import (
    MalformedFeedError,
    SitemapEntry,
    iter_sitemap,
    rss_links,
    sitemap_links,
)

ARTICLE = "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-x"
RAW = "https://www.rfi.fr/cn/政治/20251130-x"


def test_rss_items_in_order_normalised_and_filtered():
    feed = f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>
      <link>https://www.rfi.fr/cn/</link>
      <item><title>a</title><link>{RAW}/</link></item>
      <item><title>b</title><link>{ARTICLE}?xtor=RSS</link></item>
      <item><title>c</title><link>https://www.rfi.fr/cn/政治/20251129-y</link></item>
      <item><title>partner</title><link>https://savoirs.rfi.fr/cn/x</link></item>
    </channel></rss>""".encode()
    assert rss_links(feed, "https://www.rfi.fr/cn/rss") == [
        ARTICLE,
        "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251129-y",
    ]


def test_atom_entries():
    feed = (
        f"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><link href="{RAW}"/></entry></feed>"""
    )
    assert rss_links(feed.encode(), "https://www.rfi.fr/cn/rss") == [ARTICLE]


def test_entity_bomb_is_not_expanded():
    bomb = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">
      <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
      <rss><channel><item><link>&c;</link></item></channel></rss>"""
    assert rss_links(bomb, "https://www.rfi.fr/cn/rss") == []


def test_news_sitemap_and_sitemap_index():
    urlset = f"""<?xml version="1.0" encoding="UTF-8"?>
      <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
              xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>{ARTICLE}</loc><news:news><news:title>t</news:title></news:news></url>
      <url><loc>https://www.rfi.fr/cn/政治/</loc></url></urlset>""".encode()
    links = sitemap_links(urlset, "https://www.rfi.fr/sitemaps/cn/news.xml")
    assert (links.articles, links.sitemaps) == ([ARTICLE], [])
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>https://www.rfi.fr/sitemaps/cn/contents_202511.xml</loc></sitemap>
      <sitemap><loc>https://elsewhere.example/sitemap.xml</loc></sitemap></sitemapindex>"""
    links = sitemap_links(index, "https://www.rfi.fr/sitemaps/cn/index.xml")
    assert links.sitemaps == ["https://www.rfi.fr/sitemaps/cn/contents_202511.xml"]


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x00\x01\x02"])
def test_a_body_that_is_no_sitemap_is_a_clear_error(body):
    with pytest.raises(MalformedFeedError):
        sitemap_links(body, "https://www.rfi.fr/sitemaps/cn/news.xml")


def _big_sitemap(count: int) -> bytes:
    """``count`` content URLs of 2015 (outside any recent window), each with a lastmod."""
    entries = "".join(
        f"<url><loc>https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/201503{1 + i % 28:02d}-x-{i}</loc>"
        f"<lastmod>2015-03-{1 + i % 28:02d}</lastmod></url>"
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    ).encode()


def test_a_100000_url_sitemap_is_read_in_bounded_memory():
    body = _big_sitemap(100_000)
    window = (date(2025, 1, 1), date(2025, 12, 31))
    tracemalloc.start()
    try:
        outside = 0
        for entry in iter_sitemap(body, "https://www.rfi.fr/sitemaps/cn/contents_201503.xml"):
            day = urls.date_in_path(urls.path_of(entry.url))
            outside += not (day and window[0] <= day <= window[1])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outside == 100_000
    # Lazily: one entry at a time (measured 0.2 MB); whole lists of 100,000 URLs take
    # 40-80 MB (benchmarks/sitemap_memory.py). The bound is generous, not tight.
    assert peak < 8 * 2**20, f"parsing peaked at {peak / 2**20:.1f} MB"


def test_entries_come_lazily_with_their_lastmod():
    body = _big_sitemap(3)
    entries = iter_sitemap(body, "https://www.rfi.fr/sitemaps/cn/contents_201503.xml")
    first = next(entries)
    assert first == SitemapEntry(
        "article", "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20150301-x-0", "2015-03-01"
    )
    assert len(list(entries)) == 2


def test_a_cut_short_sitemap_yields_what_precedes_the_cut():
    body = _big_sitemap(10)
    cut = body[: body.index(b"-x-7<")]
    found = [e.url for e in iter_sitemap(cut, "https://www.rfi.fr/sitemaps/cn/news.xml")]
    prefix = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/201503"
    assert found[:7] == [f"{prefix}{1 + i:02d}-x-{i}" for i in range(7)]


def test_a_sitemap_over_the_size_bound_is_refused(monkeypatch):
    monkeypatch.setattr(feeds, "MAX_SITEMAP_BYTES", 1000)
    with pytest.raises(MalformedFeedError, match="over 1000"):
        next(iter_sitemap(_big_sitemap(50), "https://www.rfi.fr/sitemaps/cn/news.xml"))


def test_monthly_sitemap_items_under_the_archive_rule():
    body = """<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>https://www.rfi.fr/cn/%E6%AC%A7%E8%82%A1%E6%94%B6%E9%AB%98</loc></url>
      <url><loc>https://www.rfi.fr/cn/中国/odd-form</loc></url>
      <url><loc>https://www.rfi.fr/cn/关键词/中国/</loc></url></urlset>""".encode()
    page = "https://www.rfi.fr/sitemaps/cn/contents_202103.xml"
    assert [e.url for e in iter_sitemap(body, page)] == [
        "https://www.rfi.fr/cn/%E6%AC%A7%E8%82%A1%E6%94%B6%E9%AB%98"
    ]
    archive = [e.url for e in iter_sitemap(body, page, item_rule=urls.archive_item_url)]
    assert archive == [
        "https://www.rfi.fr/cn/%E6%AC%A7%E8%82%A1%E6%94%B6%E9%AB%98",
        "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/odd-form",
    ]


def test_entity_bomb_in_a_sitemap_is_not_expanded():
    bomb = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">
      <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
      <urlset><url><loc>&c;</loc></url></urlset>"""
    assert list(iter_sitemap(bomb, "https://www.rfi.fr/sitemaps/cn/news.xml")) == []
