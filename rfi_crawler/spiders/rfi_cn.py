"""The ``rfi_cn`` spider: routes pages to their extractors and decides what to request."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.defer import deferred_from_coro

from rfi_crawler import __version__, urls
from rfi_crawler.arguments import SpiderArguments
from rfi_crawler.config import RfiConfig
from rfi_crawler.drift import FieldCoverage
from rfi_crawler.encoding import is_binary, is_truncated, true_encoding
from rfi_crawler.extract.article import extract_article, tag_hubs
from rfi_crawler.extract.feeds import MalformedFeedError, rss_links, sitemap_links
from rfi_crawler.extract.listing import content_links, pager_links, section_links
from rfi_crawler.failures import failure_reason
from rfi_crawler.frontier import Discovery, RelatedFrontier
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.outcomes import OutcomeLedger
from rfi_crawler.run import CrawlRun

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

HOMEPAGE_PATH = "/cn/"
RSS_PATH = "/cn/rss"
NEWS_SITEMAP_PATH = "/sitemaps/cn/news.xml"
SITEMAP_PREFIX = "/sitemaps/cn/"
# Listing pages go first, so articles are met from start points before related chains.
LISTING_PRIORITY = 10


class Via(StrEnum):
    """How an article was reached: the ``crawl.via`` of its record."""

    HOMEPAGE = "homepage"
    SECTION = "section"
    RSS = "rss"
    SITEMAP = "sitemap"
    RELATED = "related"
    TAG = "tag"
    URL = "url"


class RfiCnSpider(Spider):
    name = "rfi_cn"

    config: RfiConfig
    arguments: SpiderArguments
    frontier: RelatedFrontier
    run: CrawlRun
    refresh_policy: RefreshPolicy
    ledger: OutcomeLedger
    coverage: FieldCoverage

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        # A descriptive User-Agent naming a contact, unless the user set their own.
        if settings.getpriority("USER_AGENT") == 0:
            contact = str(settings.get("RFI_CONTACT") or "").strip() or "contact unset"
            settings.set(
                "USER_AGENT",
                f"rfi-crawler/{__version__} (research crawler; {contact})",
                priority="spider",
            )

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> RfiCnSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # The run reads the RFI_* settings once; every component shares its config.
        spider.run = CrawlRun.of(crawler)
        spider.config = spider.run.config
        spider.arguments = SpiderArguments.parse(
            urls=kwargs.get("urls"),
            related_depth=kwargs.get("related_depth"),
            since=kwargs.get("since"),
            until=kwargs.get("until"),
            refresh=kwargs.get("refresh"),
            base_url=spider.config.base_url,
        )
        if kwargs.get("_job"):
            spider.run.name_job(kwargs["_job"])  # Scrapyd's job id names the run file
        spider.run.spider_arguments = {k: v for k, v in kwargs.items() if not k.startswith("_")}
        spider.frontier = RelatedFrontier(spider.arguments.related_depth)
        spider.ledger = OutcomeLedger()
        spider.coverage = FieldCoverage(
            spider.config.drift_threshold, spider.config.drift_min_pages
        )
        crawler.signals.connect(spider._spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider._request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider._request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(spider._item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(spider._item_dropped, signal=signals.item_dropped)
        # Belt and braces: every request is built on the configured origin anyway.
        spider.allowed_domains = [spider.config.host]
        if not spider.config.contact:
            logger.warning(
                "RFI_CONTACT is not set: the User-Agent names no contact for the "
                "site's operators; set it to an email or URL of yours."
            )
        return spider

    async def start(self) -> AsyncIterator[Request]:
        # With JOBDIR, Scrapy keeps ``self.state`` across pause and resume: the frontier
        # lives there, so a resumed crawl knows the depth of the requests it resumes.
        state = getattr(self, "state", None)
        if isinstance(state, dict):
            self.frontier = state.setdefault("frontier", self.frontier)
        refresh = self.arguments.refresh
        self.refresh_policy = RefreshPolicy(
            self.run.open(),
            self.config.refresh_days,
            self.config.refresh if refresh is None else refresh,
            today=datetime.now(UTC).date(),
        )
        if self.arguments.urls:
            for request in self._article_requests(self.arguments.urls, 0, Via.URL, None):
                yield request
            return
        starts = self.config.start_points
        if "homepage" in starts or "sections" in starts:
            yield self._listing_request(HOMEPAGE_PATH, self.parse_homepage, Via.HOMEPAGE)
        if "rss" in starts:
            yield self._listing_request(RSS_PATH, self.parse_rss, Via.RSS)
        if "sitemap" in starts:
            yield self._listing_request(NEWS_SITEMAP_PATH, self.parse_sitemap, Via.SITEMAP)

    # -- listings -------------------------------------------------------------------------

    def parse_homepage(self, response: TextResponse, via: Via) -> Iterator[Request]:
        page = self._canonical(response)
        if "homepage" in self.config.start_points:
            yield from self._listed_articles(response, page, Via.HOMEPAGE)
        if "sections" in self.config.start_points:
            for section in section_links(response.selector, response.url, self.config.base_url):
                yield self._listing_request(
                    urls.path_of(section), self.parse_listing, Via.SECTION, listing=section
                )

    def parse_listing(
        self, response: TextResponse, via: Via, listing: str, hops: int = 0
    ) -> Iterator[Request]:
        """A section page (any page of its pager), or a keyword hub ``hops`` away."""
        page = self._canonical(response)
        yield from self._listed_articles(response, page, via, hops)
        if via is Via.TAG:
            return
        pages = pager_links(response.selector, response.url, listing, self.config.base_url)
        for number, url in sorted(pages.items()):
            if number <= self.config.max_listing_pages:
                yield self._listing_request(
                    urls.path_of(url), self.parse_listing, via, listing=listing
                )
            else:
                self._count("listing/pages_beyond_limit")

    def parse_rss(self, response: TextResponse, via: Via) -> Iterator[Request]:
        found = rss_links(response.body, response.url, self.config.base_url)
        if not found:
            self._count("failed/empty_feed")
            logger.warning("feed %s lists no RFI content page (malformed or empty)", response.url)
        yield from self._article_requests(found, 0, Via.RSS, self._canonical(response))

    def parse_sitemap(self, response: TextResponse, via: Via) -> Iterator[Request]:
        try:
            links = sitemap_links(response.body, response.url, self.config.base_url)
        except MalformedFeedError as exc:
            self._count("failed/malformed_sitemap")
            logger.error("sitemap %s skipped: %s", response.url, exc)
            return
        for child in links.sitemaps:
            if urls.path_of(child).startswith(SITEMAP_PREFIX):
                yield self._listing_request(urls.path_of(child), self.parse_sitemap, Via.SITEMAP)
        yield from self._article_requests(links.articles, 0, Via.SITEMAP, self._canonical(response))

    def _listed_articles(
        self, response: TextResponse, page: str, via: Via, hops: int = 0
    ) -> Iterator[Request]:
        links = content_links(response.selector, response.url, self.config.base_url)
        self._count("listing/links_outside_teasers", sum(link.kind == "other" for link in links))
        yield from self._article_requests([link.url for link in links], hops, via, page)

    # -- articles -------------------------------------------------------------------------

    def parse_article(self, response: TextResponse, url: str) -> Iterator[Any]:
        if not isinstance(response, HtmlResponse):
            self.ledger.settle(url, "failed/not_html")
            logger.warning("not HTML (%s): %s", response.headers.get("Content-Type"), response.url)
            return
        if is_binary(response.body):
            self.ledger.settle(url, "failed/binary")
            logger.warning("binary body served as HTML, not exported: %s", response.url)
            return
        if is_truncated(response.body):
            self.ledger.settle(url, "failed/truncated")
            logger.warning("page cut short (no </html>), not exported: %s", response.url)
            return
        encoding = true_encoding(response)
        if encoding:
            self._count(f"encoding/relabelled_{encoding}")
            logger.info("%s declared %s but is %s", response.url, response.encoding, encoding)
            response = response.replace(encoding=encoding)
        # Provenance is the shortest path known when the page is parsed.
        best = self.frontier.best(url) or Discovery(url, 0, str(Via.URL), None)
        crawl = {
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "via": best.via,
            "referer": best.referer,
            "depth": best.depth,
        }
        item = extract_article(
            response.selector, response.url, self.config.base_url, crawl, self.crawler.stats
        )
        self.coverage.observe(url, None if item is None else item.__dict__)
        if item is None:
            self.ledger.settle(url, "failed/no_article")
            logger.info("not an article page: %s", response.url)
            return
        yield item
        related = [link["url"] for link in item.related]
        self._count("discovered/related", len(related))
        yield from self._requests(self.frontier.parsed(url, related))
        if self.config.follow_tags and best.depth < self.arguments.related_depth:
            for hub in tag_hubs(response.selector, response.url, self.config.base_url):
                # A keyword hub counts as one hop, like a related link.
                yield self._listing_request(
                    urls.path_of(hub),
                    self.parse_listing,
                    Via.TAG,
                    listing=hub,
                    hops=best.depth + 1,
                )

    def _article_requests(
        self, found: Iterable[str], depth: int, via: Via, referer: str | None
    ) -> Iterator[Request]:
        for url in found:
            self._count(f"discovered/{via}")
            if self.frontier.best(url) is not None:
                self._count("dedup/known_url")  # one request per canonical URL per run
            yield from self._requests(self.frontier.offer(url, depth, str(via), referer))

    def _requests(self, discoveries: Iterable[Discovery]) -> Iterator[Request]:
        for found in discoveries:
            self.ledger.meet(found.url)
            if not self.arguments.window.may_contain(urls.date_in_path(urls.path_of(found.url))):
                self._count("skipped/outside_window")
                self.ledger.settle(found.url, "skipped/outside_window")
                continue
            known = None if found.via == Via.URL else self.refresh_policy.skip(found.url)
            if known is not None:
                # Not downloaded again; its related links, as stored, still lead on.
                self._count("incremental/skipped_known")
                self.ledger.settle(found.url, "skipped/known")
                yield from self._requests(self.frontier.parsed(found.url, list(known.related)))
                continue
            self._count("requested/article")
            yield Request(
                urls.to_origin(found.url, self.config.base_url),
                self.parse_article,
                cb_kwargs={"url": found.url},
                errback=self.on_error,
                priority=-found.depth,
            )

    # -- plumbing -------------------------------------------------------------------------

    def _listing_request(self, path: str, callback: Any, via: Via, **kwargs: Any) -> Request:
        return Request(
            self.config.base_url + urls.quote_path(path),
            callback,
            cb_kwargs={"via": via, **kwargs},
            errback=self.on_error,
            priority=LISTING_PRIORITY,
            meta={"rfi_listing": True},
        )

    def _canonical(self, response: TextResponse) -> str:
        return urls.canonical_url(response.url, self.config.base_url) or response.url

    def on_error(self, failure: Failure) -> None:
        request = failure.request
        reason = failure_reason(failure)
        self._count(f"failed/{reason}")
        if "url" in request.cb_kwargs:
            outcome = "skipped/robots" if reason == "robots" else f"failed/{reason}"
            self.ledger.settle(request.cb_kwargs["url"], outcome)
        if request.meta.get("rfi_listing"):
            self._count("start_point/failed")
            logger.warning(
                "listing unavailable (%s), crawl goes on without it: %s", reason, request.url
            )
        else:
            logger.warning("article not fetched (%s): %s", reason, request.url)

    def _spider_idle(self) -> None:
        # Judged once the crawl has run out of requests, before it closes as "finished".
        if self.coverage.drifted() and not getattr(self, "_drift_reported", False):
            self._drift_reported = True
            logger.error("%s", self.coverage.describe_drift())
            self.crawler.stats.set_value(
                "rfi/drift/missed_share", round(self.coverage.missed_share, 4)
            )
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="layout_drift"))
            raise DontCloseSpider  # the close above gives the finish reason

    def closed(self, reason: str) -> None:
        self._count("related/depth_improved", self.frontier.improved)
        met = self.ledger.met
        outcomes = self.ledger.close()
        self.crawler.stats.set_value("rfi/outcome/met", met)
        for name, share in self.coverage.coverage().items():
            self.crawler.stats.set_value(f"rfi/coverage/{name}", share)
        self.crawler.stats.set_value("rfi/coverage/pages", self.coverage.pages)
        for outcome, count in outcomes.items():
            self.crawler.stats.set_value(f"rfi/outcome/{outcome}", count)

    def _request_scheduled(self, request: Request, spider: Spider) -> None:
        """A redirect to another host is never followed: OffsiteMiddleware drops it while
        it is scheduled, with no errback, so its outcome is settled here."""
        if "url" in request.cb_kwargs and urlsplit(request.url).hostname != self.config.host:
            self._settle_unfetched(request, "offsite_redirect")

    def _request_dropped(self, request: Request, spider: Spider) -> None:
        """The dupefilter refused a request, with no errback: a redirect back to a URL
        already requested, i.e. a redirect loop."""
        if "url" in request.cb_kwargs:
            looped = request.meta.get("redirect_times")
            self._settle_unfetched(request, "redirect_loop" if looped else "duplicate_request")

    def _settle_unfetched(self, request: Request, reason: str) -> None:
        self._count(f"failed/{reason}")
        logger.warning("article not fetched (%s): %s", reason, request.url)
        self.ledger.settle(request.cb_kwargs["url"], f"failed/{reason}")

    def _item_scraped(self, item: Any, response: Any, spider: Spider) -> None:
        self._settle_item(response, "exported")

    def _item_dropped(self, item: Any, response: Any, exception: Exception, spider: Spider) -> None:
        self._settle_item(response, getattr(exception, "outcome", "skipped/dropped"))

    def _settle_item(self, response: Any, outcome: str) -> None:
        request = getattr(response, "request", None)
        if request is not None and "url" in request.cb_kwargs:
            self.ledger.settle(request.cb_kwargs["url"], outcome)

    def _count(self, key: str, count: int = 1) -> None:
        if count:
            self.crawler.stats.inc_value(f"rfi/{key}", count)
