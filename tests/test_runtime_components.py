"""The crawl's components one by one, built the Scrapy way (``get_crawler``): backoff,
guards, robots.txt, request priorities, the ledger, drift, reachability, exit statuses."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
from scrapy import Request, signals
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.utils import misc
from scrapy.utils.misc import warn_on_generator_with_return_value
from scrapy.utils.request import request_from_dict
from twisted.python.failure import Failure

from rfi_crawler import middlewares as middlewares_module
from rfi_crawler import signals as rfi_signals
from rfi_crawler.commands.crawl import EXIT_STATUS
from rfi_crawler.drift import DriftExtension
from rfi_crawler.failures import failure_reason
from rfi_crawler.frontier import Discovery
from rfi_crawler.guards import (
    OriginGuardMiddleware,
    Rejected,
    ResponseGuardMiddleware,
)
from rfi_crawler.middlewares import BlockBackoffMiddleware
from rfi_crawler.outcomes import RECORD_YIELDED, OutcomeLedgerExtension
from rfi_crawler.reachability import ReachabilityExtension
from rfi_crawler.robots import RobotsPolicyMiddleware
from rfi_crawler.urls import origin_of
from tests.crawling import PROJECT_ROOT, built_crawler

ARTICLE = "http://127.0.0.1:8000/cn/%E4%B8%AD%E5%9B%BD/20261120-x"
PAGE = "<html><head><meta charset='utf-8'></head><body><p>中文</p></body></html>".encode()


def article_request(url: str = ARTICLE) -> Request:
    return Request(
        url, cb_kwargs={"url": url.replace("http://127.0.0.1:8000", "https://www.rfi.fr")}
    )


# -- backoff ------------------------------------------------------------------------------


# The backoff's clock, stopped: a pause's length is then exact however busy the machine
# is (a stall between the answer and the assertion shortened it by a second).
CLOCK = 1000.0


@pytest.fixture
def backoff(monkeypatch):
    stopped = SimpleNamespace(monotonic=lambda: CLOCK, time=time.time)
    monkeypatch.setattr(middlewares_module, "time", stopped)
    crawler = built_crawler(
        {"RFI_BACKOFF_BASE": "2", "RFI_BACKOFF_MAX": "100", "RFI_BLOCK_THRESHOLD": "5"}
    )
    # A crawl in progress: the pause asks the crawler and its engine whether it still runs.
    crawler.crawling = True
    crawler.engine = SimpleNamespace(running=True)
    return BlockBackoffMiddleware.from_crawler(crawler)


def pause(middleware: BlockBackoffMiddleware) -> float:
    return round(middleware.resume_at - CLOCK)


def blocked(status: int = 403, **headers: str) -> Response:
    return Response(ARTICLE, status=status, headers=headers)


def test_backoff_doubles_with_each_block_and_retries_the_request(backoff):
    request = article_request()
    retry = backoff.process_response(request, blocked())
    assert isinstance(retry, Request) and retry.dont_filter
    assert retry.meta["rfi_backoff_tries"] == 1
    assert pause(backoff) == 2
    backoff.resume_at = 0
    backoff.process_response(retry, blocked(429))
    assert pause(backoff) == 4
    backoff.resume_at = 0
    backoff.process_response(request, blocked())
    assert pause(backoff) == 8
    # A retry is counted (and logged) when it leaves the pause, not when it is planned.
    assert backoff.crawler.stats.get_value("rfi/backoff/retries") is None
    backoff.resume_at = 0
    asyncio.run(backoff.process_request(retry))
    asyncio.run(backoff.process_request(retry))  # counted once, whatever passes it again
    assert backoff.crawler.stats.get_value("rfi/backoff/retries") == 1


def test_backoff_eases_after_successes_and_never_exceeds_the_maximum(backoff):
    for _ in range(10):
        backoff.process_response(article_request(), blocked())
        backoff.consecutive = 0  # stay under the block threshold
    assert pause(backoff) == 100  # 2 * 2**9, capped
    backoff.process_response(article_request(), Response(ARTICLE, status=200))
    backoff.process_response(article_request(), Response(ARTICLE, status=301))
    assert backoff.level == 8
    backoff.resume_at = 0
    backoff.process_response(article_request(), blocked())
    assert pause(backoff) == 100  # 2 * 2**8 = 512, capped


@pytest.mark.parametrize("as_date", [False, True])
def test_backoff_honours_retry_after_in_seconds_or_as_a_date(backoff, as_date):
    header = "7"
    if as_date:
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=7), usegmt=True)
    backoff.process_response(article_request(), blocked(429, **{"Retry-After": header}))
    assert pause(backoff) in (6, 7)  # 2 without the header
    assert backoff.level == 0  # the site's delay, not ours: no doubling


@pytest.mark.parametrize(
    "header", [b"\xb2", b"\xb9\xb3", b"\xef\xbc\x97", b"Mon, 01 Jan 99999 00:00:00 GMT", b"soon"]
)
def test_a_retry_after_that_is_no_delay_leaves_the_backoff_its_own(backoff, header):
    # Latin-1 superscripts are digits to str.isdigit but no number to float(): neither
    # they nor any other header that gives no delay may stop the pause and the retry.
    response = Response(ARTICLE, status=429, headers={"Retry-After": header})
    retry = backoff.process_response(article_request(), response)
    assert isinstance(retry, Request)
    assert pause(backoff) == 2  # its own first delay


def test_backoff_gives_up_after_its_retries_and_the_errback_names_it(backoff):
    request = article_request()
    request.meta["rfi_backoff_tries"] = 2  # RFI_BACKOFF_RETRIES
    response = blocked()
    assert backoff.process_response(request, response) is response


def test_consecutive_blocks_stop_the_crawl_once(backoff, monkeypatch):
    closed = []
    monkeypatch.setattr(backoff, "_stop_blocked", lambda response: closed.append(response))
    for _ in range(5):
        backoff.process_response(article_request(), blocked())
    assert len(closed) == 1


def test_a_pause_ends_when_the_crawl_shuts_down(backoff):
    # By the middleware's own (stopped) clock: the machine's would put the pause in the
    # past on a machine up for less than CLOCK seconds, and nothing would be waited for.
    backoff.resume_at = CLOCK + 60
    backoff.crawler.crawling = False  # what Crawler.stop does on SIGTERM

    async def wait():
        started = time.monotonic()
        with pytest.raises(Rejected, match="shut down") as caught:
            await backoff.process_request(article_request())
        return time.monotonic() - started, caught.value

    waited, error = asyncio.run(wait())
    assert waited < 5 and error.reason == "cancelled"
    # …and a 403 met while shutting down is not retried.
    response = blocked()
    assert backoff.process_response(article_request(), response) is response


# -- request priorities -------------------------------------------------------------------


def test_nearer_articles_are_requested_first():
    crawler = built_crawler()
    spider = crawler.spider
    spider.spider_opened()  # its components, as the engine opens it
    found = [
        Discovery("https://www.rfi.fr/cn/a/20261120-near", 0, "homepage", None),
        Discovery("https://www.rfi.fr/cn/a/20261120-far", 2, "related", None),
    ]
    near, far = spider._requests(found)
    assert near.priority > far.priority
    assert (near.priority, far.priority) == (0, -2)
    listing = spider._listing_request("/cn/", spider.parse_homepage)
    assert listing.priority > near.priority


def test_each_callback_is_checked_once_not_at_every_response(monkeypatch):
    # Scrapy asks of each response's callback whether it is a generator returning a
    # value, reading its source; the answer is cached by the callback object, weakly.
    checked = []
    getsource = misc.inspect.getsource
    monkeypatch.setattr(
        misc.inspect, "getsource", lambda f: checked.append(f.__name__) or getsource(f)
    )
    spider = built_crawler().spider
    spider.spider_opened()
    for n in range(3):
        found = Discovery(f"https://www.rfi.fr/cn/a/20261120-{n}", 0, "homepage", None)
        (request,) = spider._requests([found])
        warn_on_generator_with_return_value(spider, request.callback)
        listing = spider._listing_request(f"/cn/{n}", spider.parse_listing)
        warn_on_generator_with_return_value(spider, listing.callback)
        del request, listing  # as each request is, once its response is parsed
    assert checked == ["parse_article", "parse_listing"]
    # JOBDIR stores a callback by name: a request resumed carries the same object.
    year = spider._listing_request("/cn/x", spider.parse_year, year=2020)
    resumed = request_from_dict(year.to_dict(spider=spider), spider=spider)
    assert resumed.callback is year.callback is spider.parse_year


# -- guards -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "offsite"),
    [
        ("/cn/%E4%B8%AD%E5%9B%BD/20261120-y", False),
        ("http://127.0.0.1:8000/cn/y", False),
        ("http://127.0.0.1:8001/cn/y", True),  # same host, other port
        ("https://127.0.0.1:8000/cn/y", True),  # other scheme
        ("http://localhost:8000/cn/y", True),
        ("file:///etc/passwd", True),
        ("//evil.example/cn/y", True),
    ],
)
def test_redirects_leave_only_for_the_same_origin(location, offsite):
    crawler = built_crawler({"RFI_BASE_URL": "http://127.0.0.1:8000"})
    guard = OriginGuardMiddleware.from_crawler(crawler)
    response = Response(ARTICLE, status=302, headers={"Location": location})
    if offsite:
        with pytest.raises(Rejected) as caught:
            guard.process_response(article_request(), response)
        assert failure_reason(Failure(caught.value)) == "offsite_redirect"
    else:
        assert guard.process_response(article_request(), response) is response


def test_origins_make_default_ports_explicit():
    assert origin_of("https://www.rfi.fr/cn/") == origin_of("https://WWW.rfi.fr:443/x")
    assert origin_of("http://127.0.0.1:8000") != origin_of("http://127.0.0.1:8001")


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (
            TextResponse(ARTICLE, body=b"{}", headers={"Content-Type": "application/json"}),
            "not_html",
        ),
        (HtmlResponse(ARTICLE, body=b"<html>\x00\x01\x02</html>"), "binary"),
        (HtmlResponse(ARTICLE, body=PAGE[:40]), "truncated"),
    ],
)
def test_bodies_no_article_can_come_from_are_refused_with_their_reason(response, reason):
    guard = ResponseGuardMiddleware()
    with pytest.raises(Rejected) as caught:
        guard.process_response(article_request(), response)
    assert failure_reason(Failure(caught.value)) == reason


def test_listings_and_errors_pass_the_body_guard_untouched():
    guard = ResponseGuardMiddleware()
    listing = TextResponse(ARTICLE, body=b"{}")
    assert guard.process_response(Request(ARTICLE), listing) is listing
    missing = Response(ARTICLE, status=404)
    assert guard.process_response(article_request(), missing) is missing


def test_a_decompression_bomb_is_too_large():
    message = (
        "Ignored response <200 x> because its body (1000 B compressed, 9000000 B decompressed"
        " so far) exceeded DOWNLOAD_MAXSIZE (2097152 B) during decompression."
    )
    assert failure_reason(Failure(IgnoreRequest(message))) == "too_large"


# -- ledger, drift, reachability ----------------------------------------------------------


def test_the_ledger_settles_what_the_signals_say_and_cancels_the_rest():
    crawler = built_crawler()
    ledger = crawler.get_extension(OutcomeLedgerExtension)
    send = crawler.signals.send_catch_log
    for url in ("a", "b", "c"):
        send(rfi_signals.url_met, url=url)
    send(rfi_signals.url_settled, url="a", outcome="failed/not_html")
    looped = Request("http://x/b", cb_kwargs={"url": "b"}, meta={"redirect_times": 3})
    ledger.request_dropped(looped)
    ledger.spider_closed("finished")
    stats = crawler.stats
    assert stats.get_value("rfi/outcome/met") == 3
    assert stats.get_value("rfi/outcome/failed/not_html") == 1
    assert stats.get_value("rfi/outcome/failed/redirect_loop") == 1
    assert stats.get_value("rfi/outcome/cancelled") == 1


def test_a_callback_or_pipeline_that_raises_is_a_failure_not_a_cancellation():
    crawler = built_crawler()
    send = crawler.signals.send_catch_log
    told = []

    def tell(url: str, outcome: str) -> None:  # held here: signals hold receivers weakly
        told.append((url, outcome))

    crawler.signals.connect(tell, rfi_signals.url_outcome)
    responses = {}
    for url in ("broken", "pipeline", "exported"):
        send(rfi_signals.url_met, url=url)
        request = Request(f"http://x/{url}", cb_kwargs={"url": url})
        responses[url] = HtmlResponse(request.url, body=b"<html></html>", request=request)
    failure = Failure(ValueError("a bug"))
    spider = crawler.spider
    send(signals.spider_error, failure=failure, response=responses["broken"], spider=spider)
    assert told == [("broken", "failed/spider_error")]  # at once: a backfill's day waits on it
    send(
        signals.item_error, item={}, response=responses["pipeline"], spider=spider, failure=failure
    )
    # The callback raised after yielding its record, which is still in the pipelines.
    responses["exported"].meta[RECORD_YIELDED] = True
    send(signals.spider_error, failure=failure, response=responses["exported"], spider=spider)
    send(signals.item_scraped, item={}, response=responses["exported"], spider=spider)
    crawler.get_extension(OutcomeLedgerExtension).spider_closed("finished")
    stats = crawler.stats
    assert stats.get_value("rfi/outcome/failed/spider_error") == 1
    assert stats.get_value("rfi/outcome/failed/item_error") == 1
    assert stats.get_value("rfi/outcome/exported") == 1  # its record went out
    assert stats.get_value("rfi/outcome/cancelled") is None
    assert stats.get_value("rfi/failed/spider_error") == 2  # both errors counted


def test_drift_ends_the_run_from_the_idle_handler_once():
    crawler = built_crawler({"RFI_DRIFT_MIN_PAGES": "3"})
    drift = crawler.get_extension(DriftExtension)
    full = {"title": "t", "body": "b", "published_at": "2026-11-20T00:00:00+00:00"}
    for n in range(3):
        drift.page_extracted(f"u{n}", {**full, "body": ""})
    drift.page_extracted("old", None, current=False)  # an older template is not judged
    assert drift.coverage.pages == 3
    with pytest.raises(CloseSpider) as closing:
        drift.spider_idle()
    assert closing.value.reason == "layout_drift"
    drift.spider_idle()  # reported once


def test_a_crawl_that_reached_nothing_ends_unreachable_with_one_line():
    crawler = built_crawler()
    reach = crawler.get_extension(ReachabilityExtension)
    reach.start_failed("https://x.invalid/cn/", "dns")
    reach.start_failed("https://x.invalid/cn/rss", "dns")
    with pytest.raises(CloseSpider) as closing:
        reach.spider_idle()
    assert closing.value.reason == "unreachable"
    line = reach.describe()
    assert "\n" not in line and "2 dns" in line and "DNS" in line
    reach.start_answered("https://x/cn/")
    reach.spider_idle()  # one answer is enough


def test_what_made_robots_txt_fail_is_named_before_the_pages_it_then_forbade():
    reach = built_crawler().get_extension(ReachabilityExtension)
    for page in ("/cn/", "/cn/rss", "/sitemaps/cn/news.xml"):
        reach.start_failed(f"https://www.rfi.fr{page}", "robots")
    reach.start_failed("https://www.rfi.fr/robots.txt", "dns")
    line = reach.describe()
    assert line.index("1 dns") < line.index("3 robots") and "DNS" in line


def test_urls_that_do_not_exist_are_not_blamed_on_blocking():
    reach = built_crawler().get_extension(ReachabilityExtension)
    reach.start_failed("https://www.rfi.fr/cn/中国/20251130-typo", "http_404")
    line = reach.describe()
    assert "do not exist" in line and "blocks" not in line


def test_every_failed_finish_reason_has_its_own_non_zero_exit_status():
    failures = {k: v for k, v in EXIT_STATUS.items() if k not in ("finished", "shutdown")}
    assert set(failures) >= {
        "blocked",
        "layout_drift",
        "output_error",
        "unreachable",
        "state_error",
    }
    assert 0 not in failures.values()
    assert len(set(failures.values())) == len(failures)


# -- robots.txt (RFC 9309) ----------------------------------------------------------------


def robots_policy(answer) -> tuple[RobotsPolicyMiddleware, list[str]]:
    """The policy of a crawler whose engine answers robots.txt with ``answer`` (a status,
    or an exception to raise), and the URLs that engine was asked for."""
    crawler = built_crawler()
    fetched: list[str] = []

    async def download_async(request: Request) -> Response:
        fetched.append(request.url)
        if isinstance(answer, Exception):
            raise answer
        body = b"User-agent: *\nDisallow: /private/\n"
        return Response(request.url, status=answer, body=body, request=request)

    crawler.engine = SimpleNamespace(download_async=download_async)
    return RobotsPolicyMiddleware.from_crawler(crawler), fetched


def allowed(robots: RobotsPolicyMiddleware, url: str) -> bool:
    try:
        asyncio.run(robots.process_request(Request(url)))
    except IgnoreRequest:
        return False
    return True


@pytest.mark.parametrize(
    ("answer", "allowed_there", "counted"),
    [
        (200, True, None),  # the rules apply: /cn/ is allowed, /private/ is not
        (404, True, "rfi/robots/client_error"),
        (403, True, "rfi/robots/client_error"),
        (500, False, "rfi/robots/server_error"),
        (503, False, "rfi/robots/server_error"),
        (OSError("connection refused"), False, "rfi/robots/unreachable"),
    ],
)
def test_robots_txt_follows_rfc_9309(answer, allowed_there, counted):
    robots, fetched = robots_policy(answer)
    assert allowed(robots, ARTICLE) is allowed_there
    stats = robots.crawler.stats
    if counted:
        assert stats.get_value(counted) == 1
    if answer == 200:
        assert not allowed(robots, "http://127.0.0.1:8000/private/x")
        assert stats.get_value("robotstxt/forbidden") == 1
    # Asked once (twice where it failed: one retry), whatever is requested after.
    retried = isinstance(answer, Exception) or answer >= 500
    assert fetched == ["http://127.0.0.1:8000/robots.txt"] * (2 if retried else 1)


def test_requests_that_come_while_robots_txt_is_fetched_wait_for_that_one_fetch():
    robots, fetched = robots_policy(200)
    crawler = robots.crawler
    answer: asyncio.Future | None = None

    async def slow_download(request: Request) -> Response:
        nonlocal answer
        fetched.append(request.url)
        answer = asyncio.get_running_loop().create_future()
        return await answer

    crawler.engine = SimpleNamespace(download_async=slow_download)

    async def three_requests() -> list[object]:
        asked = [
            asyncio.ensure_future(robots.process_request(Request(url)))
            for url in (ARTICLE, ARTICLE, "http://127.0.0.1:8000/private/x")
        ]
        while answer is None:
            await asyncio.sleep(0)
        body = b"User-agent: *\nDisallow: /private/\n"
        robots_url = "http://127.0.0.1:8000/robots.txt"
        answer.set_result(Response(robots_url, status=200, body=body))
        return await asyncio.gather(*asked, return_exceptions=True)

    results = asyncio.run(three_requests())
    assert fetched == ["http://127.0.0.1:8000/robots.txt"]
    assert results[:2] == [None, None] and isinstance(results[2], IgnoreRequest)


def test_the_spider_imports_no_state_export_or_run_code():
    """The spider routes: the run, the store and the run file are reached through
    extensions and signals, never imported (checked in a fresh interpreter)."""
    code = (
        "import sys, rfi_crawler.spiders.rfi_cn; "
        "print(' '.join(m for m in sys.modules if m.startswith('rfi_crawler')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "rfi_crawler.spiders.rfi_cn" in loaded
    forbidden = ("rfi_crawler.state", "rfi_crawler.export", "rfi_crawler.run", "rfi_crawler.store")
    assert [m for m in loaded if m.startswith(forbidden)] == []


@pytest.mark.parametrize(
    ("article", "judged"),
    [
        ('<article class="t-content__article">', False),  # 2020-2021: not judged
        ("<article data-article-content>", True),  # no publication dates: "unknown", judged
    ],
)
def test_drift_judges_every_page_but_those_of_a_known_older_template(article, judged):
    crawler = built_crawler()
    drift = crawler.get_extension(DriftExtension)
    url = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20201130-x"
    html = (
        f'<html><head><link rel="canonical" href="{url}"></head><body>{article}'
        '<h1 class="t-content__title">标题</h1></article></body></html>'
    )
    response = HtmlResponse(url=url, body=html.encode(), encoding="utf-8", request=Request(url))
    crawler.spider.spider_opened()
    list(crawler.spider.parse_article(response, url))
    assert drift.coverage.pages == int(judged)
    assert crawler.stats.get_value("rfi/drift/older_template_pages") == (None if judged else 1)


class UnreadableRobots:
    """A ROBOTSTXT_PARSER that refuses whatever robots.txt says (a custom one's bug)."""

    @classmethod
    def from_crawler(cls, crawler, robotstxt_body: bytes):
        if robotstxt_body:
            raise ValueError("cannot read it")
        return cls()

    def allowed(self, url: str, user_agent: str) -> bool:
        return True


def test_a_robots_txt_the_parser_cannot_read_forbids_and_leaves_no_request_waiting():
    robots, fetched = robots_policy(200)
    robots.parser_class = UnreadableRobots

    async def two_requests() -> list[object]:
        asked = [asyncio.ensure_future(robots.process_request(Request(ARTICLE))) for _ in range(2)]
        return await asyncio.wait_for(asyncio.gather(*asked, return_exceptions=True), 10)

    results = asyncio.run(two_requests())
    assert all(isinstance(result, IgnoreRequest) for result in results)  # disallow all
    assert robots.crawler.stats.get_value("rfi/robots/unreachable") == 1
    assert robots.waiting == {} and fetched == ["http://127.0.0.1:8000/robots.txt"]
