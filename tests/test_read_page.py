"""An article page is read in the charset its bytes are in (``read_page``): the tree and
the encoding that decoding the whole body first (``true_encoding``) gives, on every page,
while a page its own parse proves UTF-8 is never decoded."""

from __future__ import annotations

import random

import pytest
from lxml import etree

from rfi_crawler.encoding import decodes, true_encoding
from rfi_crawler.extract import parse
from rfi_crawler.extract.parse import html_parser, page_selector, read_page
from rfi_crawler.items import ArticleItem
from tests.crawling import built_crawler
from tests.test_parse_entry import (
    ARTICLE_URL,
    REAL_ARTICLE,
    later_top_elements,
    real_pages,
    replica_pages,
    response,
    stray_html_end_pages,
)


def tree(selector) -> bytes:
    root = selector.root
    return etree.tostring(root.getroottree()) + later_top_elements(root)


def read_by_decoding(page) -> tuple[bytes, str | None]:
    """The tree and encoding as the crawl read a page before: its body decoded first."""
    encoding = true_encoding(page)
    return tree(page_selector(page.replace(encoding=encoding) if encoding else page)), encoding


def assert_read_as_decoding_reads(page) -> str | None:
    selector, encoding = read_page(page)
    assert (tree(selector), encoding) == read_by_decoding(page)
    return encoding


@pytest.fixture
def never_decoded(monkeypatch):
    def refuse(page):
        raise AssertionError(f"{page.url}: the whole body was decoded to check its charset")

    monkeypatch.setattr(parse, "true_encoding", refuse)


def test_real_and_replica_pages_are_proven_utf8_by_their_own_parse(never_decoded):
    for url, body in real_pages() + replica_pages():
        page = response(url, body)
        selector, encoding = read_page(page)
        assert encoding is None
        assert tree(selector) == tree(page_selector(page))


def test_pages_with_a_second_top_level_element_are_read_as_decoding_reads():
    for body in stray_html_end_pages().values():
        page = response(ARTICLE_URL, body)
        assert later_top_elements(read_page(page)[0].root)  # the premise
        assert assert_read_as_decoding_reads(page) is None


def real_article() -> bytes:
    return real_pages()[0][1]


@pytest.mark.parametrize(
    ("make_body", "label", "read_as"),
    [
        (lambda: real_article().decode().encode("gb18030"), "UTF-8", "gb18030"),
        (real_article, "GBK", "utf-8"),
        # Neither UTF-8 nor GB18030: read as declared, the bad byte replaced.
        (lambda: real_article().replace(b"<html", b"\xff<html", 1), "UTF-8", None),
    ],
)
def test_a_lying_charset_is_read_as_the_bytes_are(make_body, label, read_as):
    page = response(ARTICLE_URL, make_body(), f"text/html; charset={label}")
    assert assert_read_as_decoding_reads(page) == read_as
    if read_as:
        assert "国防开支" in read_page(page)[0].css("title::text").get()


GB = "中文".encode("gb18030")  # not UTF-8; "\xe4\xb8" + "\xad@" is GB18030 too


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<!DOCTYPE html " + GB + b"><html><body><p>x</p></body></html>", "doctype"),
        (b"<html><body><p>\xe4\xb8\x00\xad@</p></body></html>", "nul"),
        (b"<html><body>" + b"</b>" * 150 + b"<p>" + GB + b"</p></body></html>", "errors"),
    ],
)
def test_bytes_the_parse_does_not_vouch_for_are_decoded(body, why):
    """GB18030 pages the parse alone would take for UTF-8: libxml2 skips the tail of a
    DOCTYPE unchecked, drops NUL bytes (here one parts a UTF-8 character), and reports
    only the first 100 errors of a parse."""
    parser = html_parser(recover=True, encoding="utf-8", huge_tree=True)
    etree.fromstring(body.replace(b"\x00", b""), parser)
    reported = [error.type_name for error in parser.error_log]
    assert "ERR_INVALID_ENCODING" not in reported  # the premise: nothing said it
    assert len(reported) == (100 if why == "errors" else 0)
    assert assert_read_as_decoding_reads(response(ARTICLE_URL, body)) == "gb18030"


def test_each_doctype_is_read_once_and_many_send_the_page_to_decoding(monkeypatch):
    """A DOCTYPE's part is checked up to its ">", where the next search starts: hostile
    pages of DOCTYPEs without ">" were read again from each one (quadratic, found by a
    helper session). Past ``_MAX_DOCTYPES``, the page is decoded whole instead."""
    read = []

    def counted(body, encoding, start=0, end=None):
        read.append((start, end))
        return decodes(body, encoding, start, end)

    monkeypatch.setattr(parse, "decodes", counted)
    endless = b"<!doctype " * 5000
    assert parse._doctypes_utf8(endless)
    assert read == [(0, len(endless))]
    read.clear()
    few = b"<!DOCTYPE a>" * parse._MAX_DOCTYPES
    assert parse._doctypes_utf8(few)
    assert read == [(12 * n, 12 * n + 11) for n in range(parse._MAX_DOCTYPES)]
    assert not parse._doctypes_utf8(few + b"<!doctype b>")
    for body in (endless, few + b"<!doctype b><p>x</p>", b"<p>" + b"!" * 5000):
        assert assert_read_as_decoding_reads(response(ARTICLE_URL, body)) is None


PIECES = [
    "<html>", "<head>", "</head>", "<body>", "</body>", "</html>", "<!DOCTYPE html>",
    "<!doctype x PUBLIC 'a' \"b\" c>", "<!DoCtYpE", "<!", "!", "<!--", "-->", "<?x ?>",
    "<p class=\"", "\">", "<a href='", "'>", "</p>", "</x>", "<title>", "</title>",
    "<script>", "</script>", "<style>", "</style>", "<textarea>", "<plaintext>", "<svg>",
    "<math>", "<template>", "<table><td>", "&amp;", "&#xd800;", "&#0;", "&nbsp", "<", ">",
    "中文", "é", "😀", "\u3000", "\ufeff", "x", " ", "\n", "=", "/",
    "<script>" + 'var a = "x";' * 100 + "</script>", "<style>" + "中{}" * 400 + "</style>",
]  # fmt: skip
BAD_BYTES = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe4\xb8", b"\xf4\x90\x80\x80", GB]


def test_random_pages_are_read_as_decoding_reads():
    chosen = random.Random(5)
    read_as = set()
    for _ in range(800):
        parts = []
        for _ in range(chosen.choice((5, 30, 120))):
            if chosen.random() < 0.06:
                parts.append(chosen.choice(BAD_BYTES))
            else:
                parts.append(chosen.choice(PIECES).encode())
        body = b"".join(parts)
        if chosen.random() < 0.1:
            body = body.replace(b"x", b"\x00")
        label = chosen.choice(("UTF-8", "UTF-8", "utf8", "GBK"))
        page = response(ARTICLE_URL, body, f"text/html; charset={label}")
        read_as.add(assert_read_as_decoding_reads(page))
    assert read_as == {None, "utf-8", "gb18030"}


def test_the_spider_counts_and_logs_what_it_relabels(caplog):
    crawler = built_crawler()
    crawler.spider.spider_opened()
    body = REAL_ARTICLE.read_bytes().decode().encode("gb18030")
    with caplog.at_level("INFO"):
        output = list(crawler.spider.parse_article(response(ARTICLE_URL, body), ARTICLE_URL))
    (item,) = [o for o in output if isinstance(o, ArticleItem)]
    assert "国防开支" in item.title
    assert crawler.stats.get_value("rfi/encoding/relabelled_gb18030") == 1
    assert "declared utf-8 but is gb18030" in caplog.text
