"""Downloader middlewares that refuse responses no article can come from, naming why.

``OriginGuardMiddleware`` refuses redirects away from the crawl's origin (scheme, host and
port: ``127.0.0.1:8000`` → ``127.0.0.1:8001`` is offsite; so is ``file://``), robots.txt's
included, before Scrapy's RedirectMiddleware follows them; ``RequestOriginGuardMiddleware``
any request for another origin before it is sent (a meta refresh's, named by a page).
``ResponseGuardMiddleware`` refuses an article page whose body is not HTML, binary or cut
short. (A page in another charset than it declares is not refused but read as what it is,
where it is parsed: extract/parse.py.) A refusal is a ``Rejected`` failure: the request's
errback settles the URL's outcome with its reason.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse

from rfi_crawler.config import RfiConfig, crawl_config
from rfi_crawler.encoding import is_binary, is_truncated
from rfi_crawler.urls import origin_of

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

REDIRECTS = (301, 302, 303, 307, 308)


class Rejected(IgnoreRequest):
    """A response refused by a guard; ``reason`` names the outcome (``failed/<reason>``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_article(request: Request) -> bool:
    return "url" in request.cb_kwargs


class _OriginGuard:
    """The crawl's origin, in the one spelling ``urls.origin_of`` gives every URL."""

    def __init__(self, config: RfiConfig) -> None:
        self.origin = origin_of(config.base_url)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawl_config(crawler))


class OriginGuardMiddleware(_OriginGuard):
    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location")
        if response.status not in REDIRECTS or not location:
            return response
        # robots.txt too: RFC 9309 allows following its redirects across hosts, but a
        # hostile one would make us fetch (and, with RFI_WARC_DIR, archive) any URL, say a
        # cloud metadata address. Refused, the file counts as unreachable: disallow all.
        target = location.decode("latin-1").strip()
        with suppress(ValueError):  # a Location that is no URL (http://[::1) is no origin
            target = urljoin(request.url, target)
        if origin_of(target) != self.origin:
            raise Rejected("offsite_redirect", f"redirect to another origin: {target[:200]}")
        return response


class RequestOriginGuardMiddleware(_OriginGuard):
    """Refuses a request for another origin before anything acts on it (robots.txt's
    middleware would fetch that origin's robots.txt first), in place of Scrapy's offsite
    filter, which judges hosts alone and drops unnamed. A meta refresh's request comes from
    a middleware nearer the engine than ``OriginGuardMiddleware`` sees."""

    def process_request(self, request: Request) -> None:
        # One spelling (urls.origin_of): a URL with userinfo, or no http(s) one, is none.
        if origin_of(request.url) != self.origin:
            reason = "offsite_redirect" if request.meta.get("redirect_urls") else "offsite_request"
            raise Rejected(reason, f"request for another origin: {request.url[:200]}")


class ResponseGuardMiddleware:
    def process_response(self, request: Request, response: Response) -> Response:
        if not is_article(request) or not 200 <= response.status < 300:
            return response
        if not isinstance(response, HtmlResponse):
            content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
            raise Rejected("not_html", f"not HTML ({content_type or 'no Content-Type'})")
        if is_binary(response.body):
            raise Rejected("binary", "binary body served as HTML")
        if is_truncated(response.body):
            raise Rejected("truncated", "page cut short (no </html>)")
        return response
