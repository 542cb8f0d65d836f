"""Pages whose declared charset lies, and pages cut short.

RFI serves UTF-8 (``<meta charset="UTF-8">``). A proxy or a misconfigured cache can
announce GBK for UTF-8 bytes, or serve GB18030 bytes as UTF-8; decoding by the label then
turns every Chinese character into mojibake that would pass any schema. The bytes decide.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.http import TextResponse

FALLBACK = "gb18030"  # a superset of GBK and GB2312
# Bodies are checked in pieces of this size: decoding a 540 KB page whole makes a 2 MB
# string (one character outside the BMP widens all to 4 bytes) only to drop it, which
# costs several times the decoding itself. In these codecs an all-ASCII piece met between
# two characters is valid as it is, and ``bytes.isascii`` reads it ~1,000× faster than a
# decoder: two thirds of a real page's pieces (its CSS and scripts).
CHUNK = 8 * 1024
_ASCII_SAFE = frozenset({"utf-8", "gb18030"})


def decodes(body: bytes, encoding: str, start: int = 0, end: int | None = None) -> bool:
    """Whether ``body[start:end]`` is valid ``encoding`` (what decoding it would say; the
    offsets count from the body's start, never from its end), read in pieces, never copied
    whole: a copy above glibc's mmap threshold (128 KB at first) can be fresh pages, each
    faulted in and zeroed by the kernel."""
    end = len(body) if end is None else min(end, len(body))
    if start >= end:
        return True  # as ``b"".decode(…)``, which looks no codec up
    try:
        skip_ascii = codecs.lookup(encoding).name in _ASCII_SAFE
        # An incremental decoder carries a character cut at a piece's end into the next.
        decoder = codecs.getincrementaldecoder(encoding)()
        pending = False  # bytes of a character the last piece decoded left unfinished
        for at in range(start, end, CHUNK):
            piece = body[at : min(at + CHUNK, end)]
            if skip_ascii and not pending and piece.isascii():
                continue
            decoder.decode(piece)
            pending = bool(decoder.getstate()[0])
        decoder.decode(b"", True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def declares_utf8(response: TextResponse) -> bool:
    """Whether Scrapy reads the response as UTF-8 (the label RFI's pages carry)."""
    return response.encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def true_encoding(response: TextResponse) -> str | None:
    """The encoding to read the body with, when it is not the one Scrapy chose; else None."""
    if declares_utf8(response):
        if decodes(response.body, "utf-8"):
            return None
        return FALLBACK if decodes(response.body, FALLBACK) else None
    return "utf-8" if decodes(response.body, "utf-8") else None


def is_truncated(body: bytes) -> bool:
    """A real page ends with ``</html>``; a body cut short by the network does not."""
    return b"</html>" not in body[-2048:].lower()


def is_binary(body: bytes) -> bool:
    """NUL bytes in the first kilobytes: no HTML page, whatever its Content-Type says."""
    return b"\x00" in body[:4096]
