"""robots.txt as RFC 9309 reads it: an unreachable or failing file forbids, a missing one allows.

In place of Scrapy's RobotsTxtMiddleware, which parses whatever a 5xx answer holds (usually
allowing everything) and logs a failed fetch with a full traceback. Here (RFC 9309 §2.3.1):
2xx is parsed; 4xx means no rules (allow all); 5xx after one retry, or no answer at all
(DNS, connection, timeout), means assume complete disallow. Each case is counted under
``rfi/robots/*`` (and Scrapy's ``robotstxt/*`` counts are kept); a failed fetch is one
WARNING line (the run's verdict, e.g. ``unreachable``, is the ERROR). Built on Scrapy's
public parts only: ``ROBOTSTXT_PARSER``, the engine's ``download_async`` and the
``robots_parsed`` signal.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from rfi_crawler import signals as rfi_signals
from rfi_crawler.failures import failure_reason

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
# Ahead of every waiting request: they all wait for this answer.
DOWNLOAD_PRIORITY = 1000


class RobotsPolicyMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.user_agent: str | None = crawler.settings["ROBOTSTXT_USER_AGENT"] or None
        self.default_user_agent: str = crawler.settings["USER_AGENT"]
        self.parser_class = load_object(crawler.settings["ROBOTSTXT_PARSER"])
        build_from_crawler(self.parser_class, crawler, b"")  # its dependencies, checked now
        self.parsers: dict[str, RobotParser | ForbidAll] = {}  # netloc → its rules
        self.waiting: dict[str, list[Deferred[RobotParser | ForbidAll]]] = {}  # while fetched

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsPolicyMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if request.meta.get("dont_obey_robotstxt") or request.url.startswith(("data:", "file:")):
            return
        parser = await self.parser_for(request)
        agent = self.user_agent or request.headers.get(b"User-Agent", self.default_user_agent)
        if not parser.allowed(request.url, agent):
            logger.debug("Forbidden by robots.txt: %s", request)
            self.stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest("Forbidden by robots.txt")

    async def parser_for(self, request: Request) -> RobotParser | ForbidAll:
        """The rules of the request's host, fetched once; requests that come meanwhile wait
        for that fetch."""
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc in self.parsers:
            return self.parsers[netloc]
        if netloc in self.waiting:
            waiter: Deferred[RobotParser | ForbidAll] = Deferred()
            self.waiting[netloc].append(waiter)
            return await maybe_deferred_to_future(waiter)
        self.waiting[netloc] = []
        try:
            parser = await self._read(f"{url.scheme}://{netloc}/robots.txt", request)
        except BaseException as exc:  # cancelled, say: the requests waiting are not left
            for waiter in self.waiting.pop(netloc):
                waiter.errback(exc)
            raise
        self.parsers[netloc] = parser
        for waiter in self.waiting.pop(netloc):
            waiter.callback(parser)
        return parser

    async def _read(self, robots_url: str, request: Request) -> RobotParser | ForbidAll:
        """The rules robots.txt gives, as RFC 9309 reads its answer (never raises)."""
        self.stats.inc_value("robotstxt/request_count")
        try:
            response = await self._fetch(robots_url)
        except Exception as exc:  # any failure: the file is unreachable
            return self._unreachable(robots_url, exc)
        self.stats.inc_value("robotstxt/response_count")
        self.stats.inc_value(f"robotstxt/response_status_count/{response.status}")
        body = response.body
        if 400 <= response.status < 500:
            self.stats.inc_value("rfi/robots/client_error")
            logger.info("robots.txt answered %d: no rules, everything allowed", response.status)
            body = b""
        elif response.status >= 500:
            self.stats.inc_value("rfi/robots/server_error")
            logger.warning(
                "robots.txt answered %d: assuming complete disallow (RFC 9309)", response.status
            )
            body = DISALLOW_ALL
        try:
            parser = build_from_crawler(self.parser_class, self.crawler, body)
        except Exception as exc:  # a ROBOTSTXT_PARSER that cannot read it: as unreadable
            return self._unreachable(robots_url, exc)
        await self.crawler.signals.send_catch_log_async(
            signal=signals.robots_parsed, robotparser=parser, request=request
        )
        return parser

    async def _fetch(self, robots_url: str) -> Response:
        """Two tries, not RETRY_TIMES, and retried here rather than by RetryMiddleware:
        every request waits for this answer, a site that cannot be resolved or reached
        must fail fast, and its failure is told once (by the unreachable verdict)."""
        for tries_left in (1, 0):
            robots_request = Request(
                robots_url,
                priority=DOWNLOAD_PRIORITY,
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

    def _unreachable(self, robots_url: str, exc: Exception) -> ForbidAll:
        self.stats.inc_value("rfi/robots/unreachable")
        if not isinstance(exc, IgnoreRequest):
            self.stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        reason = failure_reason(Failure(exc))
        self.crawler.signals.send_catch_log(rfi_signals.start_failed, url=robots_url, reason=reason)
        logger.warning(
            "robots.txt unreachable (%s: %s): assuming complete disallow (RFC 9309)",
            type(exc).__name__,
            str(exc).splitlines()[0][:200] if str(exc) else robots_url,
        )
        return ForbidAll()


class ForbidAll:
    """The rules of an unreachable robots.txt (RFC 9309: complete disallow), whatever
    ROBOTSTXT_PARSER is and whether it could read anything."""

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        return False
