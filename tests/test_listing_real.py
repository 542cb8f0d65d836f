"""Listing extraction on the real captured homepage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from parsel import Selector

from rfi_crawler import urls
from rfi_crawler.extract.listing import content_links, pager_links, section_links

HOMEPAGE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "rfi_pages" / "homepage_20251130.html"
)
HOME_URL = "https://www.rfi.fr/cn/"
NAV_SECTIONS = [
    "中国",
    "港澳台",
    "法国",
    "亚洲",
    "非洲",
    "美洲",
    "欧洲",
    "中东",
    "人权",
    "政治",
    "经贸",
    "社会",
    "生态",
    "科技与文化",
    "最新消息",
    "国际",
    "体育",
    "法新社经济",
    "健康",
    "名流",
    "特别专题",
    "再次收听",
    "专栏检索",
]


@pytest.fixture(scope="module")
def homepage() -> Selector:
    return Selector(text=HOMEPAGE.read_text(encoding="utf-8"))


def test_homepage_links_exactly_48_content_pages(homepage):
    links = content_links(homepage, HOME_URL)
    paths = [urls.path_of(link.url) for link in links]
    assert len(paths) == len(set(paths)) == 48
    assert Counter(link.kind for link in links) == {"teaser": 43, "news_feed": 5}
    assert sum(urls.programme_in_path(p) is not None for p in paths) == 12
    assert all(urls.is_content_path(p) for p in paths)
    assert all(link.title for link in links)
    news = [link for link in links if link.kind == "news_feed"]
    assert all(urls.path_of(link.url).startswith("/cn/国际报道/") for link in news)


def test_the_same_links_are_found_on_a_local_replica_origin(homepage):
    local = [
        link.url
        for link in content_links(homepage, "http://127.0.0.1:8000/cn/", "http://127.0.0.1:8000")
    ]
    assert local == [link.url for link in content_links(homepage, HOME_URL)]


def test_sections_of_the_navigation(homepage):
    sections = [urls.path_of(u) for u in section_links(homepage, HOME_URL)]
    assert sections == [f"/cn/{name}/" for name in NAV_SECTIONS]


def test_pager_links_are_read_from_the_page():
    html = (
        '<html><body><div class="m-pagination"><a href="/cn/中国/">1</a>'
        '<a href="/cn/%E4%B8%AD%E5%9B%BD/2/">2</a><a href="https://www.rfi.fr/cn/中国/3/">3</a>'
        '<a href="/cn/港澳台/2/">other section</a><a href="/cn/中国/20251130-x">article</a>'
        "</div></body></html>"
    )
    pages = pager_links(
        Selector(text=html),
        "https://www.rfi.fr/cn/中国/",
        "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/",
    )
    assert pages == {
        2: "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/2/",
        3: "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/3/",
    }


def test_the_real_homepage_has_no_pager(homepage):
    assert pager_links(homepage, HOME_URL, HOME_URL) == {}


def every_occurrence(selector: Selector, page_url: str, base_url: str | None) -> list:
    """``content_links`` as it was before it skipped links and hrefs met twice: every
    occurrence of every link canonicalised and titled (the reference it must equal)."""
    from rfi_crawler.extract.listing import (
        ALL_LINKS,
        NEWS_FEED_LINKS,
        TEASER_LINKS,
        ListingLink,
    )
    from rfi_crawler.extract.page import text_of
    from rfi_crawler.processors import clean_text

    root = selector.root
    found: dict = {}
    for kind, query in (
        ("teaser", TEASER_LINKS),
        ("news_feed", NEWS_FEED_LINKS),
        ("other", ALL_LINKS),
    ):
        for link in query(root):
            url = urls.canonical_content_url(link.get("href", ""), page_url, base_url)
            if url is None:
                continue
            title = clean_text(text_of(link)) or clean_text(link.get("title"))
            known = found.get(url)
            if known is None:
                found[url] = ListingLink(url, title, kind)
            elif known.title is None and title:
                found[url] = ListingLink(url, title, known.kind)
    return list(found.values())


def shuffled_listing(chosen) -> str:
    """Teasers, news-feed items and plain links sharing hrefs, titled or not, in any order."""
    hrefs = [f"/cn/中国/2025113{n}-x{n}" for n in range(4)] + ["/cn/中国/", "https://example.org/"]
    hrefs += ["/cn/中国/2/", "/cn/%E4%B8%AD%E5%9B%BD/2", "https://www.rfi.fr/cn/中国/3/", "?p=2"]
    # Relative, escaped, dotted, queried and non-ASCII-digit forms of pager links, and
    # near misses.
    hrefs += ["3/", "../4/", "./", "%35/", "/cn/中国/6%2F", "/cn/中国/7/?x=1#f", " /cn/中国/8 "]
    hrefs += ["/cn/中国/٣/", "/cn/中国/2x/", "/cn/中国/9/..", "/cn/中国//10//", "#11"]
    parts = []
    for _ in range(chosen.randint(1, 25)):
        href = chosen.choice(hrefs)
        text = chosen.choice(["", " ", "标题", "<span>标</span>题"])
        title = chosen.choice(["", ' title="题目"'])
        link = chosen.choice(
            [
                f'<a data-article-item-link href="{href}"{title}>{text}</a>',
                f'<div class="m-item-news-feed"><a href="{href}"{title}>{text}</a></div>',
                f'<a href="{href}"{title}>{text}</a>',
            ]
        )
        parts.append(link)
    return "<html><body>" + "".join(parts) + "</body></html>"


def pager_of_every_link(selector: Selector, page_url: str, listing_url: str) -> dict:
    """``pager_links`` as it was before it read each href once (the reference)."""
    from rfi_crawler.extract.listing import ALL_LINKS

    pages: dict = {}
    for link in ALL_LINKS(selector.root):
        url = urls.resolve_link(link.get("href", ""), page_url)
        number = url and urls.listing_page_number(urls.path_of(url), urls.path_of(listing_url))
        if number and number > 1:
            pages.setdefault(number, url)
    return pages


def test_links_met_twice_are_read_once_with_the_same_result(homepage):
    import random

    assert content_links(homepage, HOME_URL) == every_occurrence(homepage, HOME_URL, None)
    section = "https://www.rfi.fr/cn/中国/"
    chosen = random.Random(5)
    for _ in range(400):
        page = Selector(text=shuffled_listing(chosen))
        assert content_links(page, HOME_URL) == every_occurrence(page, HOME_URL, None)
        for page_url in (section, section + "2/", section + "5/x"):
            expected = pager_of_every_link(page, page_url, section)
            assert pager_links(page, page_url, section) == expected
