"""The parse entry (rfi_crawler/extract/parse.py): pages parsed from their bytes give
exactly the fields ``response.selector`` gives, on every page we have, and leave no
Response↔Selector cycle."""

from __future__ import annotations

import gc
import random
import threading
import weakref
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from parsel import Selector
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from rfi_crawler.extract import archive_pages
from rfi_crawler.extract.article import ArticleParts, extract_article, tag_hubs
from rfi_crawler.extract.listing import content_links, pager_links, section_links
from rfi_crawler.extract.page import Landmarks, template_generation, top_elements
from rfi_crawler.extract.parse import html_parser, page_selector, parse_page, read_page
from rfi_crawler.spiders.rfi_cn import RfiCnSpider, Via
from tests.replica.site import ReplicaSite

PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "rfi_pages"
REAL_ARTICLE = PAGES / "article_20251130_zhengzhi.html"
REAL_HOMEPAGE = PAGES / "homepage_20251130.html"
ARTICLE_URL = "https://www.rfi.fr/cn/政治/20251130-台湾增加400亿美元国防开支-加速部署t-dome防空系统"
BASE = "https://www.rfi.fr"
TODAY = date(2026, 11, 30)


def response(url: str, body: bytes, content_type: str = "text/html; charset=UTF-8"):
    return HtmlResponse(
        url=url, body=body, headers={"Content-Type": content_type}, request=Request(url)
    )


def later_top_elements(root) -> bytes:
    """The top-level elements after the root, serialised: a stray ``</html>`` before more
    markup starts one, and serialising the root (or its tree) leaves it out."""
    return b"".join(etree.tostring(top) for top in top_elements(root)[1:])


def what_extractors_give(selector, url: str) -> dict:
    """Everything the spider reads from a page, from one selector."""
    item = extract_article(selector, url, BASE, {"via": "url", "depth": 0})
    return {
        "record": None if item is None else item.__dict__,
        "generation": template_generation(selector),
        "hubs": list(tag_hubs(selector, url, BASE)),
        "links": content_links(selector, url, BASE),
        "sections": section_links(selector, url, BASE),
        "pager": pager_links(selector, url, url, BASE),
        "days": archive_pages.day_links(selector, url, BASE),
        "years": archive_pages.year_links(selector, url, BASE),
        "day items": archive_pages.day_items(selector, url, BASE),
    }


def assert_same_extraction(page) -> None:
    before = what_extractors_give(page.selector, page.url)  # Scrapy's, as before
    after = what_extractors_give(page_selector(page), page.url)
    assert after == before


def replica_pages() -> list[tuple[str, bytes]]:
    site = ReplicaSite(articles=60, seed=7, today=TODAY, years=(2006, 2025), past_per_year=8)
    pages = [(BASE + path, site.render_article(a).encode()) for path, a in site.by_path.items()]
    pages.append((BASE + "/cn/", site.render_homepage().encode()))
    for section in site.sections():
        pages.append((BASE + f"/cn/{section}/", site.render_section(section, 1).encode()))
    for year in (2006, 2025):
        pages.append((archive_pages.year_url(year), site.past.render_year(year).encode()))
    for day in list(site.past.by_day())[:10]:
        url = archive_pages.fallback_day_url(day)
        pages.append((url, site.past.render_day(day).encode()))
    return pages


def real_pages() -> list[tuple[str, bytes]]:
    # ../shared is present on every machine and in CI: its absence fails, never skips.
    return [(ARTICLE_URL, REAL_ARTICLE.read_bytes()), (BASE + "/cn/", REAL_HOMEPAGE.read_bytes())]


def test_real_pages_give_identical_fields():
    for url, body in real_pages():
        assert_same_extraction(response(url, body))
    article = page_selector(response(ARTICLE_URL, REAL_ARTICLE.read_bytes()))
    assert extract_article(article, ARTICLE_URL, BASE).title  # the page is read


def test_every_replica_page_of_every_template_generation_gives_identical_fields():
    pages = replica_pages()
    assert len(pages) > 200
    for url, body in pages:
        assert_same_extraction(response(url, body))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b.replace(b"<p>", b"<p>\xff\xfe", 3), id="invalid-utf8"),
        pytest.param(lambda b: b.replace(b"<p>", b"<p>\x00", 3), id="nul-bytes"),
        pytest.param(lambda b: b"  \n" + b, id="leading-space"),
        pytest.param(
            lambda b: b.replace(b"<style", b"<script>var s='<style>';</script><style", 1),
            id="style-in-script",
        ),
        pytest.param(
            lambda b: b.replace(b"<style", b"<!-- <style> --><style", 1), id="style-in-comment"
        ),
        pytest.param(lambda b: b.replace(b"<style", b"<STYLE", 1), id="uppercase"),
        pytest.param(lambda b: b.replace(b"</style>", b"", 1), id="unclosed-first"),
        pytest.param(lambda b: b.replace(b"<h1", b"<style>h1{}</style><h1", 1), id="style-in-body"),
    ],
)
def test_mutated_real_article_gives_identical_fields(mutate):
    url, body = real_pages()[0]
    assert_same_extraction(response(url, mutate(body)))


def test_other_encodings_give_identical_fields():
    url, body = real_pages()[0]
    text = body.decode("utf-8")
    gb = text.replace('charset="utf-8"', 'charset="gb18030"').encode("gb18030")
    assert_same_extraction(response(url, gb, "text/html; charset=gb18030"))
    utf16 = text.encode("utf-16")
    assert_same_extraction(response(url, utf16, "text/html; charset=utf-16"))


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
def test_bomless_utf16_and_utf32_are_read_big_endian_as_scrapy_reads_them(codec):
    """w3lib decodes them big-endian; Python's codec alone would read the machine's order
    and find no link at all."""
    site = ReplicaSite(articles=60, seed=7, today=TODAY)
    body = site.render_homepage().encode(f"{codec}-be")
    page = response(BASE + "/cn/", body, f"text/html; charset={codec}")
    assert_same_extraction(page)
    assert content_links(page_selector(page), page.url, BASE)


def test_the_response_is_freed_without_the_garbage_collector():
    """No Response↔Selector cycle: the page goes when its last reference does."""
    url, body = real_pages()[0]
    page = response(url, body)
    selector = page_selector(page)
    gone = weakref.ref(page)
    gc.disable()
    try:
        del page
        assert gone() is None
    finally:
        gc.enable()
    assert selector.root is not None


def test_listing_callbacks_leave_no_cycle_either():
    """The homepage and section pages are parsed from their bytes too: each page goes with
    its last reference once its callback has run."""
    site = ReplicaSite(articles=60, seed=7, today=TODAY)
    crawler = get_crawler(RfiCnSpider, settings_dict={"RFI_CONTACT": "test@example.org"})
    crawler.stats.open_spider()
    crawler.spider = spider = RfiCnSpider.from_crawler(crawler)
    spider.spider_opened()
    section = site.sections()[0]
    listing = f"{BASE}/cn/{section}/"
    calls = [
        (spider.parse_homepage, BASE + "/cn/", site.render_homepage(), {}),
        (
            spider.parse_listing,
            listing,
            site.render_section(section, 1),
            {"via": Via.SECTION, "listing": listing},
        ),
    ]
    for callback, url, html, kwargs in calls:
        page = response(url, html.encode())
        assert list(callback(page, **kwargs))  # the page was read
        gone = weakref.ref(page)
        gc.disable()
        try:
            del page
            assert gone() is None, callback.__name__
        finally:
            gc.enable()


# What each of the landmarks of a page is (page.Landmarks), as the query it replaced, from
# the page's root (scripts and buttons were found by ``root.iter``).
LANDMARK_QUERIES = {
    "scripts": "descendant-or-self::script",
    "buttons": "descendant-or-self::button",
    "asides": "//aside",
    "content_articles": "//article[@data-article-content]",
    "class_articles": '//article[contains(@class, "t-content__article")]',
    "pub_dates": '//*[contains(@class, "m-pub-dates__date")]//time',
    "tag_links": '//div[contains(@class, "t-content__tags")]//a',
}


def assert_found_as_queried(found, context, queries: dict[str, str]) -> None:
    """Each attribute of ``found`` holds what its query finds from ``context``."""
    for name, query in queries.items():
        assert getattr(found, name) == context.xpath(query), name


def assert_landmarks_are_their_queries(root) -> None:
    assert_found_as_queried(Landmarks(root), root, LANDMARK_QUERIES)


def test_landmarks_are_what_their_queries_find_on_every_page():
    """One walk of the tree finds what the whole-page queries found, in document order."""
    for url, body in [*real_pages(), *replica_pages()]:
        assert_landmarks_are_their_queries(page_selector(response(url, body)).root)


# A stray "</html>" before more markup: libxml2 starts a second top-level <html> beside the
# parse's root, and the rest of the page lies in it.
STRAY_HTML_ENDS = {
    "before the article": (b"<article", b"</html><article"),
    "after the header": (b"</header>", b"</header></html>"),
    "before main": (b"<main", b"</body></html><main"),
    "before the related aside": (b"<aside", b"</html><aside"),
    "before the footer": (b"<footer", b"</html><footer"),
}


def stray_html_end_pages() -> dict[str, bytes]:
    body = real_pages()[0][1]
    return {name: body.replace(old, new, 1) for name, (old, new) in STRAY_HTML_ENDS.items()}


def test_landmarks_are_found_in_every_top_level_element():
    """What ``//x`` finds beyond the parse's root, in an ``<html>`` a stray end tag began."""
    for name, body in stray_html_end_pages().items():
        root = page_selector(response(ARTICLE_URL, body)).root
        assert len(list(root.itersiblings(etree.Element))) == 1, name  # the premise
        assert_landmarks_are_their_queries(root)


# What a record takes from the article, its asides, times and tag links, found anywhere.
PAGE_WIDE_FIELDS = ("title", "kicker", "lead", "body", "subheadings", "related", "links")
PAGE_WIDE_FIELDS += ("published_at", "tags", "image")


def test_a_stray_html_end_tag_leaves_the_article_and_its_asides_read():
    """The article, its related aside, times and tags past the stray tag are still read;
    its scripts (the datalayer) only under the root, as ever."""
    url, body = real_pages()[0]
    record = extract_article(page_selector(response(url, body)), url, BASE).__dict__
    assert record["body"] and record["kicker"] and record["related"] and record["tags"]
    for name, stray in stray_html_end_pages().items():
        selector, relabelled = read_page(response(url, stray))
        assert relabelled is None
        read = extract_article(selector, url, BASE).__dict__
        assert {f: read[f] for f in PAGE_WIDE_FIELDS} == {f: record[f] for f in PAGE_WIDE_FIELDS}
        layer_read = any(s.get("id") == "datalayer" for s in Landmarks(selector.root).scripts)
        assert (read["id"] == record["id"]) == layer_read, name


def random_markup(chosen: random.Random) -> bytes:
    """Random HTML: the sought tags and classes, some left open, with stray ``</html>``,
    ``</body>`` and ``<html>`` tags among them."""
    tokens = []
    for _ in range(chosen.randint(1, 80)):
        roll = chosen.random()
        if roll < 0.1:
            tokens.append(chosen.choice(["</html>", "</body>", "</body></html>", "<html>"]))
        elif roll < 0.6:
            tag = chosen.choice(LANDMARK_TAGS)
            classes = " ".join(chosen.sample(LANDMARK_CLASSES, chosen.randint(0, 2)))
            extra = " data-article-content" if chosen.random() < 0.2 else ""
            tokens.append(f'<{tag} class="{classes}"{extra}>')
        elif roll < 0.9:
            tokens.append(f"</{chosen.choice(LANDMARK_TAGS)}>")
        else:
            tokens.append("text")
    return ("<html><body>" + "".join(tokens)).encode()


def test_landmarks_are_what_their_queries_find_on_random_markup():
    """Pages parsed as the spider parses them, several of them with more than one
    top-level element."""
    chosen = random.Random(29)
    several = 0
    for _ in range(1500):
        root = page_selector(response(ARTICLE_URL, random_markup(chosen))).root
        several += bool(list(root.itersiblings(etree.Element)))
        assert_landmarks_are_their_queries(root)
    assert several > 100  # the case the test is for did occur


LANDMARK_TAGS = ["div", "article", "time", "a", "aside", "script", "button", "span", "li"]
LANDMARK_CLASSES = ["t-content__tags", "m-pub-dates__date", "t-content__article", "a-hot-tag", "x"]


def random_tree(
    chosen: random.Random, tags=LANDMARK_TAGS, classes=LANDMARK_CLASSES, most_classes=2
) -> etree._Element:
    """Tags nested at random, in and around each other, with the classes sought."""
    root = etree.Element(chosen.choice(tags))
    elements = [root]
    for _ in range(chosen.randint(1, 60)):
        element = etree.SubElement(chosen.choice(elements), chosen.choice(tags))
        if chosen.random() < 0.5:
            element.set("class", " ".join(chosen.sample(classes, chosen.randint(1, most_classes))))
        if chosen.random() < 0.2:
            element.set("data-article-content", chosen.choice(["", "1"]))
        elements.append(element)
    return root


def test_landmarks_are_what_their_queries_find_on_random_trees():
    """Nested tag containers, a time under two dated ancestors, the root itself a match."""
    chosen = random.Random(13)
    for _ in range(1500):
        assert_landmarks_are_their_queries(random_tree(chosen))


# What each part of an article (article.ArticleParts) is, as the query it replaced.
ARTICLE_PART_QUERIES = {
    "kickers": 'descendant::*[contains(@class, "t-content__section")]'
    '/descendant::*[contains(@class, "a-tag__wrapper")]',
    "main_figures": 'descendant::*[contains(@class, "t-content__main-media")]/descendant::figure',
    "pub_times": 'descendant::*[contains(@class, "m-pub-dates__date")]/descendant::time',
}


def assert_parts_are_their_queries(article) -> None:
    assert_found_as_queried(ArticleParts(article), article, ARTICLE_PART_QUERIES)


def test_article_parts_are_what_their_queries_find_on_every_page():
    """One walk of an article finds what its three class queries found, in document order,
    from every article element and from the page's root."""
    for url, body in [*real_pages(), *replica_pages()]:
        root = page_selector(response(url, body)).root
        for context in [root, *root.iter("article")]:
            assert_parts_are_their_queries(context)
    empty = ArticleParts(None)
    assert (empty.kickers, empty.main_figures, empty.pub_times) == ([], [], [])


def test_article_parts_are_what_their_queries_find_on_random_trees():
    """Containers nested in each other and in what they contain, a class on the context
    itself (a query never counts it), near-miss and absent classes."""
    tags = ["div", "section", "figure", "time", "span", "a", "p"]
    classes = [
        "t-content__section",
        "a-tag__wrapper",
        "t-content__main-media",
        "m-pub-dates__date",
        "t-content__sectionx",
        "a-tag",
        "",
    ]
    chosen = random.Random(29)
    for _ in range(1500):
        root = random_tree(chosen, tags, classes, most_classes=3)
        if chosen.random() < 0.3:
            root.set("class", chosen.choice(classes))
        assert_parts_are_their_queries(root)


def _spelled_with_slashes(path: str) -> str:
    """The ``//`` spelling of a query written with ``descendant::`` steps."""
    path = path.replace("/descendant::", "//").replace("| descendant::", "| .//")
    return ".//" + path.removeprefix("descendant::") if path.startswith("descendant::") else path


def test_descendant_queries_find_what_their_double_slash_spelling_finds():
    """The extractors spell ``//x[…]`` as ``descendant::x[…]`` for speed (page.py): on every
    page we have, from the root and from every article, aside and figure, each query gives
    the nodes, in order, that its ``//`` spelling gives."""
    from rfi_crawler.extract import article, listing, media, page

    queries = [
        value
        for module in (article, listing, media, page, archive_pages)
        for value in vars(module).values()
        if isinstance(value, etree.XPath) and "descendant::" in value.path
    ]
    assert len(queries) >= 20
    pairs = [(query, etree.XPath(_spelled_with_slashes(query.path))) for query in queries]
    for url, body in [*real_pages(), *replica_pages()]:
        root = page_selector(response(url, body)).root
        tree = root.getroottree()
        contexts = [root, *root.iter("article", "aside", "figure")]
        for query, slashes in pairs:
            for context in contexts:
                found = [
                    tree.getpath(n) if isinstance(n, etree._Element) else n for n in query(context)
                ]
                expected = [
                    tree.getpath(n) if isinstance(n, etree._Element) else n
                    for n in slashes(context)
                ]
                assert found == expected, (url, query.path)


def test_pages_are_parsed_into_plain_lxml_elements():
    """No ``lxml.html`` class lookup per element touched (parse.py); the fields stay the
    same (the tests above)."""
    url, body = real_pages()[0]
    root = page_selector(response(url, body)).root
    assert type(root) is etree._Element
    assert {type(element) for element in root.iter("article", "meta", "a")} == {etree._Element}


def test_one_parser_per_thread_reads_page_after_page():
    """parse.py hands parsel one lxml parser per thread and options, for every page; a
    page with invalid UTF-8 (parsel reads the parser's error log) leaves nothing behind."""
    options = {"recover": True, "encoding": "utf-8", "huge_tree": True}
    url, body = real_pages()[0]
    parser = page_selector(response(url, body)).root.getroottree().parser
    assert parser is html_parser(**options)
    assert page_selector(response(url, body)).root.getroottree().parser is parser
    assert html_parser(**{**options, "encoding": "gb18030"}) is not parser
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(html_parser(**options)))
    thread.start()
    thread.join()
    assert elsewhere[0] is not parser
    for page in (b"<p>\xe4\xb8 broken</p>", "<p>好</p>".encode(), b"<p>\xff</p>", b"<p>ok</p>"):
        expected = Selector(body=page, encoding="utf-8", type="html").css("p::text").getall()
        assert parse_page(page, "utf-8", BASE).css("p::text").getall() == expected
