"""RSS and sitemap parsing."""

from __future__ import annotations

import pytest

from rfi_crawler.extract.feeds import MalformedFeedError, rss_links, sitemap_links

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
