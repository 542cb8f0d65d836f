"""robots.txt as RFC 9309 reads it: an unreachable or failing file forbids, a missing one allows.

Scrapy's RobotsTxtMiddleware parses whatever a 5xx answer holds (usually allowing
everything) and logs a failed fetch with a full traceback. Here (RFC 9309 §2.3.1): 2xx is
parsed; 4xx means no rules (allow all); 5xx after Scrapy's retries, or no answer at all
(DNS, connection, timeout), means assume complete disallow. Each case is counted under
``rfi/robots/*``; a failed fetch is one WARNING line (the run's verdict, e.g.
``unreachable``, is the ERROR).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from rfi_crawler import signals as rfi_signals
from rfi_crawler.failures import failure_reason

if TYPE_CHECKING:
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class RobotsPolicyMiddleware(RobotsTxtMiddleware):
    async def robot_parser(self, request: Request) -> RobotParser | None:
        # Scrapy's own method, with the failure path replaced (one line, disallow all).
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robots_url = f"{url.scheme}://{netloc}/robots.txt"
            try:
                response = await self._fetch(robots_url)
                await self._parse_robots(response, netloc, request)
            except Exception as exc:  # any failure: the file is unreachable
                self._unreachable(robots_url, netloc, exc)
            self._stats.inc_value("robotstxt/request_count")
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            return await maybe_deferred_to_future(parser)
        return parser

    async def _fetch(self, robots_url: str) -> Response:
        """Two tries, not RETRY_TIMES, and retried here rather than by RetryMiddleware:
        every request waits for this answer, a site that cannot be resolved or reached
        must fail fast, and its failure is told once (by the unreachable verdict)."""
        for tries_left in (1, 0):
            robots_request = Request(
                robots_url,
                priority=self.DOWNLOAD_PRIORITY,
                meta={"dont_obey_robotstxt": True, "dont_retry": True},
                callback=NO_CALLBACK,
                dont_filter=True,
            )
            try:
                response = await self.crawler.engine.download_async(robots_request)
            except IgnoreRequest:
                raise
            except Exception:
                if not tries_left:
                    raise
                continue
            if response.status < 500 or not tries_left:
                return response
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if 400 <= response.status < 500:
            self._stats.inc_value("rfi/robots/client_error")
            logger.info("robots.txt answered %d: no rules, everything allowed", response.status)
            response = response.replace(body=b"")
        elif response.status >= 500:
            self._stats.inc_value("rfi/robots/server_error")
            logger.warning(
                "robots.txt answered %d: assuming complete disallow (RFC 9309)", response.status
            )
            response = response.replace(body=DISALLOW_ALL)
        await super()._parse_robots(response, netloc, request)

    def _unreachable(self, robots_url: str, netloc: str, exc: Exception) -> None:
        self._stats.inc_value("rfi/robots/unreachable")
        reason = failure_reason(Failure(exc))
        self.crawler.signals.send_catch_log(rfi_signals.start_failed, url=robots_url, reason=reason)
        if not isinstance(exc, IgnoreRequest):
            self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        logger.warning(
            "robots.txt unreachable (%s: %s): assuming complete disallow (RFC 9309)",
            type(exc).__name__,
            str(exc).splitlines()[0][:200] if str(exc) else robots_url,
        )
        deferred = self._parsers[netloc]
        parser = build_from_crawler(self._parserimpl, self.crawler, DISALLOW_ALL)
        self._parsers[netloc] = parser
        assert isinstance(deferred, Deferred)
        deferred.callback(parser)
