"""The raw-text cut (rfi_crawler/extract/raw_text.py): a page parsed with its CSS and
JavaScript left out is the tree of the whole page, but for the cut elements' text, on every
page we have and on random pages built to break the cut; where it cannot be, the page is
parsed whole."""

from __future__ import annotations

import copy
import random

from lxml import etree

from rfi_crawler.extract import parse, raw_text
from rfi_crawler.extract.parse import parse_page
from rfi_crawler.extract.raw_text import MIN_CUT, cut_held, cut_raw_text
from tests.test_parse_entry import (
    BASE,
    later_top_elements,
    real_pages,
    replica_pages,
    stray_html_end_pages,
)


def whole_parse(body: bytes) -> etree._Element:
    """The tree parsel builds from the whole page (what parse.py gave before the cut)."""
    from parsel import Selector

    return Selector(body=body, encoding="utf-8", type="html").root


def without_head_and_body_raw_text(root: etree._Element) -> bytes:
    """The document serialised, the text of every attribute-less style and script child of
    the root's head and body cleared: all the cut may change."""
    first = copy.deepcopy(root)
    for container in first:
        if container.tag in ("head", "body"):
            for element in container:
                if element.tag in ("style", "script") and not element.attrib:
                    element.text = None
    return etree.tostring(first) + later_top_elements(root)


def assert_cut_changes_nothing_else(body: bytes) -> None:
    cut = parse_page(body, "utf-8", BASE).root
    assert without_head_and_body_raw_text(cut) == without_head_and_body_raw_text(whole_parse(body))


def held(body: bytes) -> bool:
    """Whether ``parse_page`` keeps the cut page's tree (NUL bytes dropped first, as it does)."""
    cut_body, cuts = cut_raw_text(body.replace(b"\x00", b""))
    return bool(cuts) and cut_held(whole_parse(cut_body), cuts)


def test_a_page_with_a_second_top_level_element_gives_the_whole_document():
    """After a stray ``</html>`` the rest of the page lies beside the root: the cut
    changes nothing there either (its placeholders there fail the check)."""
    for body in stray_html_end_pages().values():
        assert later_top_elements(whole_parse(body))  # the premise
        assert_cut_changes_nothing_else(body)


def test_real_and_replica_pages_are_cut_and_give_the_whole_tree():
    pages = [*real_pages(), *replica_pages()]
    for _url, body in pages:
        assert_cut_changes_nothing_else(body)
    article, homepage = (body for _url, body in real_pages())
    assert cut_raw_text(article)[1] == ["script", "style", "style", "script", "script"]
    assert len(cut_raw_text(article)[0]) < len(article) // 3
    assert held(article) and held(homepage)
    # Every replica page with a long style or script is cut (the archive's pages have none).
    long_raw = [body for _url, body in pages if cut_raw_text(body)[1]]
    assert len(long_raw) > 60
    assert all(held(body) for body in long_raw)


def test_cut_elements_lose_their_text_and_nothing_else_does():
    css, js = "a{color:red}" * 200, "var a = 1;" * 200
    page = (
        f'<html><head><style>{css}</style><script type="application/ld+json">{{"a": 1}}'
        f"</script></head><body><p>x</p><script>{js}</script></body></html>"
    )
    root = parse_page(page.encode(), "utf-8", BASE).root
    assert [(e.tag, e.text) for e in root.iter("style", "script")] == [
        ("style", None),
        ("script", '{"a": 1}'),
        ("script", None),
    ]
    # A long script in a player button may be read: the page is parsed whole.
    player = f'<button class="m-feed-sub__audio"><script>{js}</script></button>'
    root = parse_page(page.replace("<p>x</p>", player).encode(), "utf-8", BASE).root
    assert [e.text for e in root.iter("style", "script")] == [css, '{"a": 1}', js, js]
    short = b"<html><head><style>a{}</style></head></html>"
    assert cut_raw_text(short) == (short, [])


LONG = "x" * MIN_CUT
# Pieces of a page: each either leaves the cut sound or must make it fall back.
PIECES = [
    "<p>text</p>",
    "<div class='a'><span>t</span></div>",
    f"<style>{LONG}</style>",
    f"<script>{LONG}</script>",
    f"<style>{LONG}</STYLE >",
    f"<script>{LONG}</Script\t>",
    f"<script>{LONG}</script/>",
    f"<script>{LONG}</scripts>{LONG}</script>",
    f"<style>{LONG}</stylex>{LONG}</style>",
    f"<script>{LONG}</SCRIPT>{LONG}</script>",
    f"<script>{LONG}<!--<script>{LONG}</script>{LONG}--></script>",
    f"<script>{LONG}<!--{LONG}</script>",
    f"<script>{LONG}\r\n{LONG}\r</script>",
    f"<script>{LONG}\x00\x0b{LONG}</script>",
    f"<script>{LONG}</scr\x00ipt>{LONG}</script>",
    f"<!-- <style>{LONG} -->",
    "<!-- <script> -->",
    "</style>",
    "</script>",
    f"<a title='<script>'>{LONG}</a>",
    f'<a title="<style>{LONG}</style>">t</a>',
    f"<title><script>{LONG}</script></title>",
    f"<textarea><style>{LONG}</style></textarea>",
    f"<xmp><script>{LONG}</script></xmp>",
    f"<noscript><style>{LONG}</style></noscript>",
    f"<svg><style>{LONG}</style></svg>",
    f"<button><script>{LONG}</script></button>",
    f"<div><style>{LONG}</style></div>",
    f'<script type="application/ld+json">{{"d": "<script>{LONG}"}}</script>',
    f'<script id="datalayer"><style>{LONG}</style></script>',
    # Placeholders as a page may spell them (it cannot know the process's random token).
    "<script>rfi-cut-0000000000000000-0</script>",
    f"<style>{raw_text.placeholder(0)[:-3]}</style>",
    f"<script>{LONG}é\xa0好",
    "<plaintext>",
    f"<style>{LONG}",
    "<head>",
    "<body>",
    "</head>",
    "</body>",
    "<html>",
]


# What parsel strips from a page's edges when it parses decoded text (invalid UTF-8),
# and not from bytes: Unicode whitespace and the separators U+001C–U+001F.
EDGES = ["", " ", "\xa0", "\u3000", "\x1c", "\u2028"]


def random_page(chosen: random.Random) -> bytes:
    body = "".join(chosen.choice(PIECES) for _ in range(chosen.randint(1, 12)))
    page = f"<html><head>{chosen.choice(['', f'<style>{LONG}</style>'])}</head><body>{body}"
    if chosen.random() < 0.3:
        page = page.removeprefix("<html><head>")
    page = (chosen.choice(EDGES) + page + chosen.choice(EDGES)).encode()
    if chosen.random() < 0.2:
        page = page.replace(b"x", b"\xff", chosen.randint(1, 3))  # invalid UTF-8
    return page


def test_random_pages_give_the_whole_tree_whether_cut_or_not():
    """Openers in comments, attribute values, titles and other scripts; end tags in any
    case and cut short; escaped script data, CR, NUL and control bytes; forged placeholders;
    unclosed raw text. The cut holds or falls back, and the tree is always the whole one."""
    chosen = random.Random(41)
    outcomes = {True: 0, False: 0}
    for _ in range(2000):
        page = random_page(chosen)
        assert_cut_changes_nothing_else(page)
        if cut_raw_text(page)[1]:
            outcomes[held(page)] += 1
    assert outcomes[True] > 300 and outcomes[False] > 300, outcomes


def test_a_content_with_invalid_utf8_is_not_cut():
    """Invalid bytes make parsel parse the whole page again from decoded text, which loses
    Unicode whitespace at the page's edges where bytes keep it: cut, the page would lose
    its head (found by a helper session's fuzzing)."""
    for page in (
        b"\x1c<style>" + b"x" * MIN_CUT + b"\xff</style>",
        b"\xc2\xa0<style>" + b"x" * MIN_CUT + b"\xff</style>",
        b"<style>" + b"x" * MIN_CUT + b"\xff</style>\xc2\xa0",
    ):
        assert cut_raw_text(page)[1] == []
        assert_cut_changes_nothing_else(page)
    _url, article = real_pages()[0]
    broken = "\u3000".encode() + article.replace(b"<script>", b"<script>\xff", 1)
    assert cut_raw_text(broken)[1] == ["style", "style", "script", "script"]
    assert_cut_changes_nothing_else(broken)
    assert cut_raw_text("<style>好{}</style>".replace("{}", LONG).encode())[1] == ["style"]


def test_only_the_first_openers_are_looked_at():
    """A hostile page's many openers cost bounded work in Python; the rest is parsed."""
    many = b"".join(b"<style>" + b"x" * MIN_CUT + b"</style>" for _ in range(100))
    cut_body, cuts = cut_raw_text(many)
    assert len(cuts) == raw_text.MAX_OPENERS
    assert cut_body.endswith(b"<style>" + b"x" * MIN_CUT + b"</style>")
    assert_cut_changes_nothing_else(b"<html><head>" + many)


def test_a_misplaced_placeholder_is_no_cut():
    """Each check of ``cut_held`` on its own refuses a tree the cut would have changed."""
    cut_body, cuts = cut_raw_text(f"<html><head><style>{LONG}</style></head></html>".encode())
    assert cuts == ["style"]
    first = raw_text.placeholder(0)
    assert cut_body == f"<html><head><style>{first}</style></head></html>".encode()

    def tree(markup: str) -> etree._Element:
        return etree.fromstring(markup.encode(), etree.HTMLParser())

    assert cut_held(tree(f"<html><head><style>{first}</style></head></html>"), cuts)
    refused = [
        f"<html><head><script>{first}</script></head></html>",  # another element
        f"<html><head><style media='x'>{first}</style></head></html>",  # attributes
        f"<html><body><div><style>{first}</style></div></body></html>",  # deeper
        f"<html><head><style>{first}x</style></head></html>",  # more text
        f"<html><head><title>{first}</title></head></html>",  # in a title
        f"<html><head><style>{raw_text.placeholder(1)}</style></head></html>",  # order
        "<html><head><style>a</style></head></html>",  # missing
        f"<html><head><style>{first}</style><style>{first}</style></head></html>",  # twice
    ]
    for markup in refused:
        assert not cut_held(tree(markup), cuts), markup


def test_search_from_finds_what_the_pattern_searches():
    """``search_from`` jumps from one ``first`` byte to the next before it hands over to
    ``re``: the same match, with none, a few or many such bytes before it, or none at all;
    for a raw text's end ("<" first) and for a DOCTYPE ("!" second)."""
    chosen = random.Random(5)
    pieces = [b"<", b"a<b", b"</", b"</s", b"</style", b"</STYLE>", b"</script ", b"<!--"]
    pieces += [b"</scripts", b"x" * 50, b"\n", b">", b"!", b"<!", b"<!DocType", b"doctype"]
    searches = [(end, b"<", 0) for end in raw_text._END.values()]
    searches.append((parse._DOCTYPE, b"!", 1))
    for _ in range(3000):
        body = b"".join(chosen.choices(pieces, k=chosen.randint(0, 120)))
        start = chosen.randint(0, len(body))
        for pattern, first, offset in searches:
            expected = pattern.search(body, start)
            found = raw_text.search_from(body, start, pattern, first, offset)
            assert (found and found.span()) == (expected and expected.span())
