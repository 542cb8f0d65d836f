"""The parse entry: a page's bytes to a parsel ``Selector``, its stylesheets left out.

Two costs of ``response.selector`` are avoided here. Scrapy caches the selector on the
response and the selector points back at the response, a reference cycle: every page
parsed that way stays in memory (body, decoded text and lxml tree) until the cyclic
garbage collector runs. And a real RFI page is about 40% inline CSS (two ``<style>``
elements, ~220 KB of 544 KB), which libxml2 copies into text nodes no extractor reads:
leaving it out halves parse time.

Only ``<style>`` is cut. Scripts are read (JSON-LD, the datalayer, media players), SVG is
small. No extractor reads a style element's text (``text_of`` and the body walk skip
it), and a style element ends at the first ``</style``, as the HTML tokenizer ends it:
the tree is the same less those elements. Attribute values and ``<title>`` text are not
tokenised: a ``<style`` written inside one would cut real markup; no page we have has one,
and a hostile page can only hide its own text that way. ``tests/test_parse_entry.py``
checks that every extracted field is identical with and without the cut on every page we
have.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from parsel import Selector

if TYPE_CHECKING:
    from scrapy.http import TextResponse

# Raw-text sections the scan steps over whole, so a "<style" inside them is not a tag.
_SKIPPED = ((b"<script", b"</script"), (b"<!--", b"-->"))
_STYLE, _STYLE_END = b"<style", b"</style"
# A tag name ends at whitespace, "/" or ">"; "<styles>" is no style element.
_NAME_END = frozenset(b" \t\n\r\f/>")


def parse_page(body: bytes, encoding: str, base_url: str) -> Selector:
    """The page's ``Selector``, built from its bytes without its ``<style>`` elements."""
    if _ascii_compatible(encoding):
        body = strip_styles(body)
    return Selector(body=body, encoding=encoding, base_url=base_url, type="html")


def page_selector(response: TextResponse) -> Selector:
    """``parse_page`` of a response; nothing is cached on the response (no cycle)."""
    return parse_page(response.body, response.encoding, response.url)


def strip_styles(body: bytes) -> bytes:
    """``body`` less every lowercase ``<style …>…</style>`` element outside scripts and
    comments (uppercase ones stay: that only costs time). An unclosed one stays too."""
    if _STYLE not in body:
        return body
    kept: list[bytes] = []
    position = 0  # everything before it is decided
    scan = 0
    while True:
        start = body.find(_STYLE, scan)
        if start < 0:
            break
        # A script or comment opening before this "<style" hides it: step over it.
        hider = _first_opening(body, scan, start)
        if hider is not None:
            opening, closing = hider
            end = body.find(closing, opening)
            if end < 0:
                break
            scan = end + len(closing)
            continue
        after = start + len(_STYLE)
        if after >= len(body) or body[after] not in _NAME_END:
            scan = after
            continue
        close = body.find(_STYLE_END, after)
        close_end = -1 if close < 0 else body.find(b">", close)
        if close_end < 0:
            break
        kept.append(body[position:start])
        position = scan = close_end + 1
    kept.append(body[position:])
    return b"".join(kept)


def _first_opening(body: bytes, scan: int, before: int) -> tuple[int, bytes] | None:
    """(where, its closing marker) of the first script or comment opening in
    ``body[scan:before]``, or None."""
    found: tuple[int, bytes] | None = None
    for opening, closing in _SKIPPED:
        at = body.find(opening, scan, before)
        if at >= 0 and (found is None or at < found[0]):
            found = (at, closing)
    if found is None:
        return None
    return found[0] + 1, found[1]


def _ascii_compatible(encoding: str) -> bool:
    """Byte search for ASCII markup works only where ASCII is one byte (not UTF-16/32)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return not name.startswith(("utf-16", "utf-32"))
