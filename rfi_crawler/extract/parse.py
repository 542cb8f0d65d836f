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
"""

from __future__ import annotations

import codecs
import threading
from typing import TYPE_CHECKING, Any

from lxml import etree
from parsel import Selector
from parsel.selector import create_root_node
from w3lib.encoding import read_bom

from rfi_crawler.extract.raw_text import cut_held, cut_raw_text

if TYPE_CHECKING:
    from scrapy.http import TextResponse


def parse_page(body: bytes, encoding: str, base_url: str) -> Selector:
    """The page's HTML ``Selector``, built from its bytes with ``etree.HTMLParser``; a
    UTF-8 page's CSS and JavaScript left out where that changes nothing else (raw_text.py)."""
    root = cut_parse(body, base_url) if codecs.lookup(encoding).name == "utf-8" else None
    if root is None:
        root = _root_node(body, encoding, base_url)
    return Selector(root=root, type="html")


def cut_parse(body: bytes, base_url: str) -> etree._Element | None:
    """The tree of a UTF-8 page parsed without its long attribute-less style and script
    contents, or None where it has none or the cut does not hold."""
    # NUL bytes go first, as parsel drops them: "</scr\0ipt>" ends a script.
    cut_body, cuts = cut_raw_text(body.replace(b"\x00", b""))
    if not cuts:
        return None
    root = _root_node(cut_body, "utf-8", base_url)
    return root if cut_held(root, cuts) else None


def _root_node(body: bytes, encoding: str, base_url: str) -> etree._Element:
    return create_root_node(
        text="", parser_cls=html_parser, base_url=base_url, body=body, encoding=encoding
    )


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


def text_codec(response: TextResponse) -> str:
    """The codec ``response.text`` decodes with: its encoding, except that w3lib reads
    UTF-16 and UTF-32 without a BOM as big-endian (Python's codecs read the machine's order)."""
    encoding = response.encoding
    if encoding in ("utf-16", "utf-32") and read_bom(response.body)[0] is None:
        return f"{encoding}-be"
    return encoding
