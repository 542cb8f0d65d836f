"""The CSS and JavaScript of a page, left out of its parse where that changes nothing else.

Three quarters of an RFI page are the contents of attribute-less ``<style>`` and
``<script>`` elements, children of ``<head>`` and ``<body>`` (~390 of 540 KB on the real
article page). No extractor reads them: the scripts read are JSON named by a type, an id or
a data attribute, or sit inside a player button. libxml2 still tokenizes and copies every
byte of them, ~0.4 of the 1.35 ms a replica article page takes to parse and free.

``cut_raw_text`` replaces each such content with a placeholder before the parse, and
``cut_held`` checks the parsed tree afterwards; where it does not hold, the caller parses
the page whole. The cut gives the tree the whole page gives, but for the cut elements'
text (``None``), because:

- bytes before an opener are the page's own (earlier cuts included, by induction), so the
  tokenizer meets ``<style>``/``<script>`` in the state the whole page puts it in;
- ``cut_held`` finds every placeholder, in order, as the whole text of an attribute-less
  element of that name, a child of ``<head>`` or ``<body>``: so each opener was a start
  tag and each content raw text (an opener met in a comment, an attribute value, another
  element's text or a title puts its placeholder there, and the check fails);
- a content is cut only up to its first end tag in any letter case (HTML's tokenizer, as
  libxml2 2.14 follows it), and a script's only if it holds no ``<!--``, after which HTML
  may read ``</script>`` as text ("script data escaped" states). An end tag is sought
  followed by what ends a tag name, so that ``</scripts`` does not end a cut: it would
  not end the element either, and its placeholder would then fail the check;
- a content is cut only if it is valid UTF-8. libxml2 reports invalid bytes, and parsel
  then parses the page again from decoded text, stripping Unicode whitespace from its
  edges (the bytes path strips ASCII whitespace only): a page with a bad byte in its CSS
  and a no-break space before ``<html>`` lost its ``<head>`` cut, not whole. Left in, the
  bytes send the page down the same path whole or cut;
- the placeholders carry a token drawn at random per process, so a page cannot forge one.

Only the first ``MAX_OPENERS`` openers are looked at: the cut's work in Python is then
bounded on a hostile page (thousands of short scripts full of "<" took 24 times parsel's
parse of the same page).

A page the cut does not hold for costs a second parse, never a different tree
(tests/test_raw_text.py compares both parses on every page we have and on random pages
built to break the cut).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from rfi_crawler.encoding import decodes

# Smaller contents are not worth a placeholder (the real page's cut ones are 9–191 KB).
MIN_CUT = 1024
MAX_OPENERS = 64  # the real pages have 5
_TOKEN = "rfi-cut-" + secrets.token_hex(8) + "-"
_OPENER = re.compile(rb"<(style|script)>")
# The end of a raw text: its end tag in any case, then whitespace, "/" or ">" (CR included:
# HTML reads it as a line feed). A script's ends early at a comment opener: see above.
_END = {
    b"style": re.compile(rb"</(?i:style)[\t\n\f\r />]"),
    b"script": re.compile(rb"</(?i:script)[\t\n\f\r />]|<!--"),
}
_CONTAINERS = ("head", "body")
_MEMCHR_TRIES = 32


def cut_raw_text(body: bytes) -> tuple[bytes, list[str]]:
    """``body`` with each long attribute-less style and script content replaced by a
    placeholder, and the cut elements' names, in document order (none: ``body`` itself)."""
    pieces: list[bytes] = []
    cuts: list[str] = []
    copied = searched = 0
    view = memoryview(body)  # pieces joined without a copy each (see decodes)
    for _ in range(MAX_OPENERS):
        opener = _OPENER.search(body, searched)
        if opener is None:
            break
        name = opener.group(1)
        end = search_from(body, opener.end(), _END[name])
        if end is None or end.group() == b"<!--":
            break  # where this raw text ends is not known from here on
        start, stop = opener.end(), end.start()
        if stop - start >= MIN_CUT and decodes(body, "utf-8", start, stop):
            pieces += (view[copied:start], placeholder(len(cuts)).encode())
            cuts.append(name.decode())
            copied = stop
        searched = end.end()
    if not cuts:
        return body, cuts
    pieces.append(view[copied:])
    return b"".join(pieces), cuts


def search_from(
    body: bytes, start: int, pattern: re.Pattern[bytes], first: bytes = b"<", offset: int = 0
) -> re.Match[bytes] | None:
    """``pattern.search(body, start)`` for a pattern whose matches hold the byte ``first``
    at ``offset``, faster where that byte is rare. ``re`` reads a long CSS or JavaScript
    text at ~3 GB/s; ``bytes.find`` jumps to the next "<" at memory speed, and the real
    page's scripts hold one "<" in 7 KB (its CSS one in 800 bytes). After
    ``_MEMCHR_TRIES`` that begin no match, ``re`` reads the rest: the worst case stays
    linear. 110 → 72 µs for the end tags of the real article page's five contents."""
    at = start + offset
    for _ in range(_MEMCHR_TRIES):
        at = body.find(first, at)
        if at < 0:
            return None
        if found := pattern.match(body, at - offset):
            return found
        at += 1
    return pattern.search(body, at - offset)


def cut_held(root: Any, cuts: list[str]) -> bool:
    """Whether every placeholder of ``cuts`` is, in order, the whole text of an
    attribute-less element of its name under ``<head>`` or ``<body>``; if so, their texts
    are cleared (``None``)."""
    held: list[Any] = []
    for container in root:
        if container.tag not in _CONTAINERS:
            continue
        for element in container:
            text = element.text
            if not isinstance(text, str) or not text.startswith(_TOKEN):
                continue
            index = len(held)
            if (
                index >= len(cuts)
                or text != placeholder(index)
                or element.tag != cuts[index]
                or element.attrib
                or len(element)
            ):
                return False
            held.append(element)
    if len(held) != len(cuts):
        return False
    for element in held:
        element.text = None
    return True


def placeholder(index: int) -> str:
    return f"{_TOKEN}{index}"
