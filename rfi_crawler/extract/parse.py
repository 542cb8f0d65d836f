"""The parse entry: a page's bytes to a parsel ``Selector``, nothing cached on the response.

``response.selector`` is cached on the response and points back at it: a reference cycle,
so every page parsed that way (its body, the decoded text, the lxml tree) stays in memory
until the cyclic garbage collector runs. With 500 KB pages that held ~300 MB at 8
concurrent requests. Built here from the bytes, the selector goes with its last
reference, and no decoded copy of the page is made (parsel falls back to a decoded copy
only for bytes the declared encoding cannot decode, as Scrapy's text would).

The tree is built by parsel's own ``create_root_node`` (NUL bytes, encoding errors and
empty pages handled as ``Selector(body=…)`` handles them), with lxml's plain
``etree.HTMLParser`` rather than parsel's default ``lxml.html`` one: the same parse, but
every element an extractor touches is then a plain lxml element, where ``lxml.html``
looks its class up in Python for each (~0.25 ms an article page; no extractor uses the
``lxml.html`` methods). One parser per thread and options serves page after page, as lxml
intends, where parsel makes one per page: libxml2 then keeps its parsing context and name
dictionary warm (0.04–0.09 ms less to parse and free a replica article page,
docs/performance.md; lxml clears the parser's error log, which parsel reads, at each parse).

A UTF-8 page is parsed without the contents of its long attribute-less ``<style>`` and
``<script>`` elements, three quarters of its bytes, wherever the tree is then the whole
page's but for their text (raw_text.py); elsewhere it is parsed whole.

An article page is read in the charset its bytes are in, whatever it declares
(``read_page``, encoding.py). Whether a page declared UTF-8 is UTF-8 is told by its own
parse: libxml2 checks every byte it reads, but for the tail of a DOCTYPE, and reports the
first invalid one (parsel relies on that report too). Decoding the whole body to check it
again cost ~6 % of a crawl's CPU: the decoder read 540 KB, and the caches lost the page.
"""

from __future__ import annotations

import codecs
import re
import threading
from typing import TYPE_CHECKING, Any

from lxml import etree
from parsel import Selector
from parsel.selector import create_root_node
from w3lib.encoding import read_bom

from rfi_crawler.encoding import declares_utf8, decodes, true_encoding
from rfi_crawler.extract.raw_text import cut_held, cut_raw_text, search_from

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.http import TextResponse


def parse_page(body: bytes, encoding: str, base_url: str) -> Selector:
    """The page's HTML ``Selector``, built from its bytes with ``etree.HTMLParser``; a
    UTF-8 page's CSS and JavaScript left out where that changes nothing else (raw_text.py)."""
    if codecs.lookup(encoding).name == "utf-8":
        # NUL bytes go first, as parsel drops them: "</scr\0ipt>" ends a script.
        root = _cut_or_whole(body.replace(b"\x00", b""), base_url, _utf8_root)
    else:
        root = _root_node(body, encoding, base_url)
    return Selector(root=root, type="html")


def _cut_or_whole(
    body: bytes, base_url: str, parse: Callable[[bytes, str], etree._Element | None]
) -> etree._Element | None:
    """``parse``'s tree of the page without its long attribute-less style and script
    contents where that cut holds, else of the whole page; None as soon as ``parse``
    gives None."""
    cut_body, cuts = cut_raw_text(body)
    if cuts:
        root = parse(cut_body, base_url)
        if root is None or cut_held(root, cuts):
            return root
    return parse(body, base_url)


def _root_node(body: bytes, encoding: str, base_url: str) -> etree._Element:
    return create_root_node(
        text="", parser_cls=html_parser, base_url=base_url, body=body, encoding=encoding
    )


def _utf8_root(body: bytes, base_url: str) -> etree._Element:
    return _root_node(body, "utf-8", base_url)


_parsers = threading.local()  # lxml parsers are not to be shared between threads


def html_parser(**options: Any) -> etree.HTMLParser:
    """``etree.HTMLParser(**options)``, made once per thread and options (parsel calls it
    as its parser class)."""
    made: dict[tuple, etree.HTMLParser] = _parsers.__dict__.setdefault("made", {})
    key = tuple(sorted(options.items()))
    if key not in made:
        made[key] = etree.HTMLParser(**options)
    return made[key]


def page_selector(response: TextResponse) -> Selector:
    """``parse_page`` of a response, decoded as ``response.text`` would be; no cycle."""
    return parse_page(response.body, text_codec(response), response.url)


def read_page(response: TextResponse) -> tuple[Selector, str | None]:
    """``page_selector`` of a response read in the encoding its bytes are in, and that
    encoding where it is not the declared one (else None): ``true_encoding`` decides.

    A page declared UTF-8 whose parse proves it so is parsed once. Any other (a parse
    that reports a problem, a NUL byte, which the parse drops and which can part a
    character, or another declared charset) has its whole body decoded to decide, and
    is parsed as that decides."""
    body = response.body
    if declares_utf8(response) and b"\x00" not in body:
        # The cut contents are checked UTF-8 by ``cut_raw_text``; the rest by the parse.
        root = _cut_or_whole(body, response.url, _proven_root)
        if root is not None:
            return Selector(root=root, type="html"), None
    encoding = true_encoding(response)
    return parse_page(body, encoding or text_codec(response), response.url), encoding


# lxml's error types for bytes that are not the parser's encoding (parsel reads these too).
_ENCODING_ERRORS = frozenset(
    {etree.ErrorTypes.ERR_INVALID_CHAR, etree.ErrorTypes.ERR_INVALID_ENCODING}
)
# libxml2 reports the first 100 errors of a parse (XML_MAX_ERRORS) and drops the rest.
_REPORTED_ERRORS = 100


def _proven_root(body: bytes, base_url: str) -> etree._Element | None:
    """``create_root_node``'s tree of UTF-8 ``body`` (no NUL byte), where libxml2 read all
    of it and found it valid; else None.

    Where nothing is reported, parsel's steps reduce to these: strip, parse, and an empty
    ``<html/>`` for a page that gives no root."""
    parser = html_parser(recover=True, encoding="utf-8", huge_tree=True)
    try:
        root = etree.fromstring(body.strip() or b"<html/>", parser=parser, base_url=base_url)
    except etree.XMLSyntaxError:
        return None
    errors = parser.error_log
    if len(errors) >= _REPORTED_ERRORS or not _doctypes_utf8(body):
        return None  # an error may have gone unreported; a DOCTYPE's tail went unchecked
    # A fatal error stops the parse: the bytes after it were not read.
    if any(e.type in _ENCODING_ERRORS or e.level >= etree.ErrorLevels.FATAL for e in errors):
        return None
    return etree.fromstring(b"<html/>", parser=parser, base_url=base_url) if root is None else root


# Sought by its "!", rare outside scripts (one on the real article page), where "<" is not.
_DOCTYPE = re.compile(rb"<!(?i:doctype)")
# A page has one DOCTYPE; past this many, checking them one by one costs more than
# decoding the page whole.
_MAX_DOCTYPES = 8


def _doctypes_utf8(body: bytes) -> bool:
    """Whether each ``<!DOCTYPE`` of ``body`` is valid UTF-8 up to its ``>`` (False for a
    page of more than ``_MAX_DOCTYPES``): libxml2 skips what follows a DOCTYPE's name and
    identifiers unchecked (``htmlSkipBogusDoctype``), up to the first ``>``."""
    at = 0
    for _ in range(_MAX_DOCTYPES):
        found = search_from(body, at, _DOCTYPE, b"!", 1)
        if found is None:
            return True
        end = body.find(b">", found.end())
        end = len(body) if end < 0 else end
        if not decodes(body, "utf-8", found.start(), end):
            return False
        at = end  # a DOCTYPE that begins before this ">" lies in the part just checked
    return search_from(body, at, _DOCTYPE, b"!", 1) is None


def text_codec(response: TextResponse) -> str:
    """The codec ``response.text`` decodes with: its encoding, except that w3lib reads
    UTF-16 and UTF-32 without a BOM as big-endian (Python's codecs read the machine's order)."""
    encoding = response.encoding
    if encoding in ("utf-16", "utf-32") and read_bom(response.body)[0] is None:
        return f"{encoding}-be"
    return encoding
