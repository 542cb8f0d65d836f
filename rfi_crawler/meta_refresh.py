"""Scrapy's meta-refresh redirects, judged on the head of the page rather than all of it.

Scrapy's ``MetaRefreshMiddleware`` reads the first 4,096 characters of ``response.text``,
and ``response.text`` decodes the whole body and caches it on the response. For a 500 KB
RFI page that is ~1 ms of CPU and a ~2 MB string (the page holds a character outside the
BMP, so Python stores 4 bytes a character), kept as long as the response: past the
spider's callback while its item goes through the pipelines. Here Scrapy's middleware
judges a copy of the response cut to its first bytes, which decode to the same first
4,096 characters; every decision (redirect or not, where to, after how long) stays
Scrapy's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

# Scrapy looks for the refresh in this many characters of the page.
SCANNED_CHARACTERS = 4096
# Enough bytes for those characters in any encoding of at most 4 bytes a character (UTF-8,
# UTF-16, UTF-32, GB18030), a BOM, and room to spare; checked after decoding anyway.
HEAD_BYTES = 8 * SCANNED_CHARACTERS


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    """``MetaRefreshMiddleware`` that decodes only the head of an HTML page."""

    def process_response(self, request: Request, response: Response) -> Request | Response:
        head = page_head(response)
        if head is None:
            return super().process_response(request, response)
        judged = super().process_response(request, head)
        return response if judged is head else judged


def page_head(response: Response) -> HtmlResponse | None:
    """The response cut to its first bytes, decoded as the whole is; ``None`` when Scrapy
    must judge the whole: a short body, an encoding it infers from the whole body, or a cut
    that decodes to too few characters."""
    if not isinstance(response, HtmlResponse) or len(response.body) <= HEAD_BYTES:
        return None
    if not declares_encoding(response):
        # Scrapy then infers the encoding by decoding the whole body, and keeps that text.
        return None
    head = response.replace(body=response.body[:HEAD_BYTES], encoding=response.encoding)
    # One more character than scanned, and one to spare for a sequence cut at the end.
    if len(head.text) < SCANNED_CHARACTERS + 2:
        return None
    return head


def declares_encoding(response: HtmlResponse) -> bool:
    """Whether a BOM, the ``Content-Type`` or the page's head names the encoding."""
    content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
    return bool(
        read_bom(response.body)[0]
        or http_content_type_encoding(content_type)
        or html_body_declared_encoding(response.body[:HEAD_BYTES])
    )
