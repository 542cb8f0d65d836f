"""The ``rfi_cn`` spider: routes pages to their extractors and decides what to request."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.misc import load_object

from rfi_crawler import __version__, urls
from rfi_crawler import signals as rfi_signals
from rfi_crawler.arguments import SpiderArguments
from rfi_crawler.backfill import Source
from rfi_crawler.backfill_api import Backfill
from rfi_crawler.config import RfiConfig, crawl_config
from rfi_crawler.extract import archive_pages
from rfi_crawler.extract.article import extract_article, tag_hubs
from rfi_crawler.extract.feeds import MalformedFeedError, iter_sitemap, rss_links
from rfi_crawler.extract.listing import content_links, pager_links, section_links
from rfi_crawler.extract.page import Landmarks, template_generation
from rfi_crawler.extract.parse import page_selector, read_page
from rfi_crawler.failures import failure_reason
from rfi_crawler.frontier import Discovery, RelatedFrontier
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.outcomes import RECORD_YIELDED

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator
    from datetime import date

    from parsel import Selector
    from scrapy.crawler import Crawler
    from scrapy.http import TextResponse
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from rfi_crawler.extract.archive_pages import MonthlySitemap

logger = logging.getLogger(__name__)

HOMEPAGE_PATH = "/cn/"
RSS_PATH = "/cn/rss"
NEWS_SITEMAP_PATH = "/sitemaps/cn/news.xml"
SITEMAP_PREFIX = "/sitemaps/cn/"
SITEMAP_INDEX_PATH = "/sitemaps/cn/index.xml"  # [guess, from /fr/ and /es/] monthly sitemaps
# Sitemap indexes followed from the news sitemap: two levels, as news.xml → index.xml →
# contents_YYYYMM.xml would be; a sitemap listed deeper is counted, not requested (an
# index chain c1 → c2 → … would otherwise be followed without end).
MAX_SITEMAP_DEPTH = 2
# The run's components, added to EXTENSIONS whatever else it holds (None disables one, but
# for the run itself, which records need: preflight.check_run_enabled refuses that).
# Built in this order, so at spider_closed the ledger and the coverage have written their
# stats before the run writes its manifest from them.
RUN_EXTENSIONS = {
    "rfi_crawler.gc_tuning.GcTuning": 0,  # the collector, set for a crawl
    "rfi_crawler.outcomes.OutcomeLedgerExtension": 100,
    "rfi_crawler.drift.DriftExtension": 110,
    "rfi_crawler.reachability.ReachabilityExtension": 120,
    # archive=1 only (NotConfigured otherwise); before the run, whose manifest reads its stats
    "rfi_crawler.backfill_run.BackfillExtension": 130,
    "rfi_crawler.backfill_progress.BackfillProgress": 140,
    "rfi_crawler.run.CrawlRun": 500,
    "rfi_crawler.refresh.RefreshExtension": 510,
}
# Template generations (rfi_crawler.extract.page) older than the current one.
OLDER_TEMPLATES = ("2022-2023", "2020-2021")
# Listing pages go first, so articles are met from start points before related chains.
LISTING_PRIORITY = 10
# Sitemap URLs go to the state store's refresh check in batches of this many.
SITEMAP_BATCH = 500
# Article requests handed to Scrapy's scheduler ahead of the downloader, per concurrent
# request (at least MIN_AHEAD); the other articles met wait in the frontier (their URL
# string each, against ~2.5 KB for a queued Request).
AHEAD_PER_SLOT = 2
MIN_AHEAD = 8


class Via(StrEnum):
    """How an article was reached: the ``crawl.via`` of its record."""

    HOMEPAGE = "homepage"
    SECTION = "section"
    RSS = "rss"
    SITEMAP = "sitemap"
    RELATED = "related"
    TAG = "tag"
    URL = "url"
    RECHECK = "recheck"  # a known article the re-check schedule fetches again
    ARCHIVE = "archive"  # an archive day page


class RfiCnSpider(Spider):
    name = "rfi_cn"
    backfill: ClassVar[bool] = False  # archive=1 implied (the rfi_cn_backfill spider)

    config: RfiConfig
    arguments: SpiderArguments
    frontier: RelatedFrontier
    refresh_policy: RefreshPolicy  # found at spider_opened
    job: str | None  # Scrapyd's job id (``-a _job=…``) names the run
    archive_backfill: Backfill | None = None  # with archive=1: found at spider_opened
    manifest_arguments: dict[str, str]  # the arguments as given, for the run's manifest
    ahead: int  # article requests kept in the scheduler at most, while others wait
    url_limit: int  # URLLENGTH_LIMIT: an article whose request URL is longer is not requested
    in_transit: int = 0  # article requests released, not yet at the scheduler

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
        # Here rather than in update_settings: the crawl command merges its -s values into
        # the crawler after update_settings, and an -s EXTENSIONS would drop the run's own.
        if not crawler.settings.frozen:  # frozen: built by a test with its own EXTENSIONS
            for path, order in RUN_EXTENSIONS.items():
                # The class, not its path: Scrapy matches the keys already there by the
                # object they load, so a user's ``"…": None`` is kept (a path never matched).
                crawler.settings.setdefault_in_component_priority_dict(
                    "EXTENSIONS", load_object(path), order
                )
        spider.config = crawl_config(crawler)
        # Scrapy's UrlLengthMiddleware drops a longer request with an INFO line only: the
        # spider settles such an article itself (0: no limit, the middleware is off too).
        spider.url_limit = crawler.settings.getint("URLLENGTH_LIMIT")
        spider.arguments = SpiderArguments.from_kwargs(
            kwargs, spider.config.base_url, backfill=cls.backfill, url_limit=spider.url_limit
        )
        spider.job = kwargs.get("_job") or None
        spider.manifest_arguments = {k: v for k, v in kwargs.items() if not k.startswith("_")}
        spider.frontier = RelatedFrontier(spider.arguments.related_depth)
        spider.hold_callbacks()
        concurrency = crawler.settings.getint("CONCURRENT_REQUESTS")
        spider.ahead = max(MIN_AHEAD, AHEAD_PER_SLOT * concurrency)
        spider.sitemaps_requested = 0  # below the news sitemap (RFI_MAX_SITEMAPS)
        crawler.signals.connect(spider.scheduler_empty, signal=signals.scheduler_empty)
        crawler.signals.connect(spider.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.spider_opened, signal=signals.spider_opened)
        # Every request is built on the configured origin, and the origin guard refuses any
        # other (rfi_crawler.guards); Scrapy's offsite filter, which reads this, is off.
        spider.allowed_domains = [spider.config.host]
        if not spider.config.contact:
            logger.warning(
                "RFI_CONTACT is not set: the User-Agent names no contact for the "
                "site's operators; set it to an email or URL of yours."
            )
        return spider

    def spider_opened(self) -> None:
        """The run's components the spider asks, looked up once through the crawler (not
        in ``from_crawler``: Scrapy builds the extensions after the spider) and kept, for
        the callbacks ask them page after page. The refresh policy is the refresh
        extension (rfi_crawler/refresh.py), which reads the state store; without it
        (``EXTENSIONS``: None) every known article is downloaded again. The backfill is
        the extension of rfi_crawler/backfill_run.py, built with archive=1 only."""
        self.refresh_policy = self.crawler.get_extension(RefreshPolicy) or RefreshPolicy(
            None, (), 0, True, datetime.now(UTC)
        )
        self.archive_backfill = self.crawler.get_extension(Backfill)

    def hold_callbacks(self) -> None:
        """Each ``parse_*`` callback bound once, and the bound method kept: every request
        carries the same object. Scrapy checks a callback's source at each response (is it
        a generator that returns a value?), caching the answer weakly by that object; a
        bound method made per request is gone with its request, so the check ran again for
        every page, ~1–2 ms of parsing Python source each."""
        for name in dir(type(self)):
            if name.startswith("parse_") and callable(getattr(type(self), name)):
                setattr(self, name, getattr(self, name))

    async def start(self) -> AsyncIterator[Request]:
        # With JOBDIR, Scrapy keeps ``self.state`` across pause and resume: the frontier
        # lives there, so a resumed crawl knows the depth of the requests it resumes.
        state = getattr(self, "state", None)
        if isinstance(state, dict):
            self.frontier = state.setdefault("frontier", self.frontier)
        if self.arguments.archive:
            if self.archive_backfill is None:
                logger.error("archive=1 needs rfi_crawler.backfill_run.BackfillExtension")
                return
            for request in self.archive_requests():
                yield request
            return
        if self.arguments.urls:
            for request in self._article_requests(self.arguments.urls, 0, Via.URL, None):
                yield request
            return
        starts = self.config.start_points
        if "homepage" in starts or "sections" in starts:
            yield self._listing_request(HOMEPAGE_PATH, self.parse_homepage)
        if "rss" in starts:
            yield self._listing_request(RSS_PATH, self.parse_rss)
        if "sitemap" in starts:
            yield self._listing_request(NEWS_SITEMAP_PATH, self.parse_sitemap)
        # Re-checks come as leaves (the depth limit): they widen no related-link reach.
        rechecks, leaf = self.refresh_policy.rechecks, self.arguments.related_depth
        for request in self._article_requests(rechecks, leaf, Via.RECHECK, None):
            yield request

    # -- listings -------------------------------------------------------------------------

    def parse_homepage(self, response: TextResponse) -> Iterator[Request]:
        self._answered(response)
        page = self._canonical(response)
        starts, selector = self.config.start_points, page_selector(response)
        listed: Iterable[Request] = ()
        if "homepage" in starts:
            listed = self._listed_articles(selector, response.url, page, Via.HOMEPAGE)
        sections: list[str] = []
        if "sections" in starts:
            sections = section_links(selector, response.url, self.config.base_url)
        del selector  # before the first yield: the tree is not kept while requests wait
        yield from listed
        for section in sections:
            yield self._listing_request(
                urls.path_of(section), self.parse_listing, via=Via.SECTION, listing=section
            )

    def parse_listing(
        self, response: TextResponse, via: Via, listing: str, hops: int = 0
    ) -> Iterator[Request]:
        """A section page (any page of its pager), or a keyword hub ``hops`` away."""
        self._answered(response)
        page = self._canonical(response)
        selector = page_selector(response)
        listed = self._listed_articles(selector, response.url, page, via, hops)
        pages = {}  # a keyword hub's further pages are not followed
        if via is not Via.TAG:
            pages = pager_links(selector, response.url, listing, self.config.base_url)
        del selector
        yield from listed
        for number, url in sorted(pages.items()):
            if number <= self.config.max_listing_pages:
                yield self._listing_request(
                    urls.path_of(url), self.parse_listing, via=via, listing=listing
                )
            else:
                self._count("listing/pages_beyond_limit")

    def parse_rss(self, response: TextResponse) -> Iterator[Request]:
        self._answered(response)
        found = rss_links(response.body, response.url, self.config.base_url)
        if not found:
            self._count("failed/empty_feed")
            logger.warning("feed %s lists no RFI content page (malformed or empty)", response.url)
        yield from self._article_requests(found, 0, Via.RSS, self._canonical(response))

    def parse_sitemap(self, response: TextResponse, depth: int = 0) -> Iterator[Request]:
        """The news sitemap (``depth`` 0), or a sitemap an index listed ``depth`` levels down."""
        self._answered(response)
        page = self._canonical(response)
        batch: list[str] = []
        too_deep = too_many = 0
        try:
            # One entry at a time: a 100,000-URL sitemap is never held as lists, and URLs
            # outside the window are dropped before the frontier or the ledger sees them.
            for entry in iter_sitemap(response.body, response.url, self.config.base_url):
                if entry.kind == "sitemap":
                    path = urls.path_of(entry.url)
                    if not path.startswith(SITEMAP_PREFIX):
                        continue
                    if depth >= MAX_SITEMAP_DEPTH:
                        too_deep += 1
                    elif self.sitemaps_requested >= self.config.max_sitemaps:
                        too_many += 1
                    else:
                        self.sitemaps_requested += 1
                        yield self._listing_request(path, self.parse_sitemap, depth=depth + 1)
                    continue
                batch.append(entry.url)
                if len(batch) >= SITEMAP_BATCH:
                    yield from self._article_requests(batch, 0, Via.SITEMAP, page)
                    batch = []
        except MalformedFeedError as exc:
            self._count("failed/malformed_sitemap")
            logger.error("sitemap %s skipped: %s", response.url, exc)
            return
        finally:  # counted, one line per sitemap, however many it lists
            depth_bound = f"{MAX_SITEMAP_DEPTH} levels of indexes"
            self._unfollowed(response.url, too_deep, "sitemap_too_deep", depth_bound)
            # RFI_MAX_SITEMAPS: an index of 500 indexes of 500 sitemaps is two levels too.
            count_bound = f"{self.config.max_sitemaps} sitemaps a run (RFI_MAX_SITEMAPS)"
            self._unfollowed(response.url, too_many, "sitemaps_beyond_limit", count_bound)
        yield from self._article_requests(batch, 0, Via.SITEMAP, page)

    def _unfollowed(self, url: str, count: int, stat: str, bound: str) -> None:
        if count:
            self._count(f"listing/{stat}", count)
            logger.warning(
                "sitemap %s lists %d sitemaps that are not followed: at most %s", url, count, bound
            )

    def _listed_articles(
        self, selector: Selector, url: str, page: str, via: Via, hops: int = 0
    ) -> Iterator[Request]:
        """The listing's article requests; its links are read at once, not when iterated."""
        links = content_links(selector, url, self.config.base_url)
        self._count("listing/links_outside_teasers", sum(link.kind == "other" for link in links))
        return self._article_requests([link.url for link in links], hops, via, page)

    # -- articles -------------------------------------------------------------------------

    def parse_article(self, response: TextResponse, url: str) -> Iterator[Any]:
        # Bodies that are no HTML page were refused by rfi_crawler.guards already.
        best = self.frontier.best(url) or Discovery(url, 0, str(Via.URL), None)
        if best.via == Via.URL:
            self._answered(response)  # a ``urls`` page is this crawl's start point
        # Provenance is the shortest path known when the page is parsed.
        crawl = {
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "via": best.via,
            "referer": best.referer,
            "depth": best.depth,
            "origin": self.config.origin,
        }
        # Parsed once, and not cached on the response (no Response↔Selector cycle); its
        # landmarks found in one walk, for the record, the template and the tag hubs.
        selector, relabelled = read_page(response)
        if relabelled:
            self._count(f"encoding/relabelled_{relabelled}")
            logger.info("%s declared %s but is %s", url, response.encoding, relabelled)
        marks = Landmarks(selector.root)
        item = extract_article(
            selector, response.url, self.config.base_url, crawl, self.crawler.stats, marks
        )
        self.crawler.signals.send_catch_log(
            rfi_signals.page_extracted,
            url=url,
            record=None if item is None else item.__dict__,
            # Pages of a known older template lack fields by design: drift does not judge
            # them. "unknown" is judged: a page of a new layout is what drift is about.
            current=template_generation(selector, marks) not in OLDER_TEMPLATES,
        )
        if item is None:
            self._settle(url, "failed/no_article")
            logger.info("not an article page: %s", response.url)
            return
        hubs: list[str] = []
        if self.config.follow_tags and best.depth < self.arguments.related_depth:
            hubs = tag_hubs(selector, response.url, self.config.base_url, marks)
        # The page's tree goes before the item does: the generator is held while the item
        # waits for Scrapy's scraper (and its pipelines, a store claim, may take longer than
        # the page's other output); a tree is ~2.3× its page.
        del selector, marks
        response.meta[RECORD_YIELDED] = True  # its outcome comes with the record's
        yield item
        related = [link["url"] for link in item.related]
        self._count("discovered/related", len(related))
        yield from self._requests(self.frontier.parsed(url, related))
        for hub in hubs:
            # A keyword hub counts as one hop, like a related link.
            yield self._listing_request(
                urls.path_of(hub),
                self.parse_listing,
                via=Via.TAG,
                listing=hub,
                hops=best.depth + 1,
            )

    def _article_requests(
        self, found: Iterable[str], depth: int, via: Via, referer: str | None
    ) -> Iterator[Request]:
        for url in found:
            self._count(f"discovered/{via}")
            if not self._in_window(url):
                # Before the frontier and the ledger: a URL outside the window costs nothing.
                self._count("skipped/outside_window")
                continue
            if self.frontier.best(url) is not None:
                self._count("dedup/known_url")  # one request per canonical URL per run
            yield from self._requests(self.frontier.offer(url, depth, str(via), referer))

    def _requests(self, discoveries: Iterable[Discovery]) -> Iterator[Request]:
        wanted = []
        for found in discoveries:
            if not self._in_window(found.url):
                self._count("skipped/outside_window")
                continue
            self.crawler.signals.send_catch_log(rfi_signals.url_met, url=found.url)
            wanted.append(found)
        # One store query for the batch (a listing page's links), not one per URL.
        known = self.refresh_policy.skip([f.url for f in wanted if f.via != Via.URL])
        for found in wanted:
            stored = known.get(found.url)
            if stored is not None:
                # Not downloaded again; its related links, as stored, still lead on.
                self._count("incremental/skipped_known")
                self._settle(found.url, "skipped/known")
                yield from self._requests(self.frontier.parsed(found.url, list(stored.related)))
                continue
            self.frontier.defer(found)
        yield from self._release()

    # -- handing waiting articles to Scrapy, a few at a time --------------------------------

    def _release(self) -> Iterator[Request]:
        """Requests for waiting articles, while fewer than ``ahead`` requests are queued."""
        while self._queued() < self.ahead:
            found = self.frontier.take()
            if found is None:
                return
            request = Request(
                urls.to_origin(found.url, self.config.base_url),
                self.parse_article,
                cb_kwargs={"url": found.url},
                errback=self.on_error,
                priority=-found.depth,  # nearer articles first
                meta={"rfi_released": True},
            )
            if self.url_limit and len(request.url) > self.url_limit:
                self._url_too_long(found.url, len(request.url))
                continue
            self._count("requested/article")
            # Counted until the engine schedules it: a callback's requests reach the
            # scheduler through a queue of Scrapy's, after the callback has moved on.
            self.in_transit += 1
            yield request

    def _url_too_long(self, url: str, length: int) -> None:
        self._count("failed/url_too_long")
        self._settle(url, "failed/url_too_long")
        logger.warning(
            "article not requested (url_too_long: %d characters, URLLENGTH_LIMIT %d): %s…",
            length,
            self.url_limit,
            url[:200],
        )

    def _queued(self) -> int:
        """Requests queued: released and in transit, or in Scrapy's scheduler."""
        try:
            scheduler = self.crawler.engine.scheduler
        except RuntimeError:  # no engine yet: a spider built on its own
            scheduler = None
        return self.in_transit + (len(scheduler) if hasattr(scheduler, "__len__") else 0)

    def request_scheduled(self, request: Request) -> None:
        # Popped: a redirect or retry of the request copies its meta.
        if request.meta.pop("rfi_released", False):
            self.in_transit -= 1

    def _feed(self) -> None:
        engine = self.crawler.engine
        for request in self._release():
            engine.crawl(request)  # scheduled at once: ``_queued`` sees it

    def scheduler_empty(self) -> None:
        # The downloader has a free slot and nothing is queued: top the queue up.
        self._feed()

    def spider_idle(self) -> None:
        # Idle: nothing is in transit. A request released but never scheduled (dropped
        # by a spider middleware) would otherwise hold its place for good.
        self.in_transit = 0
        if self.frontier.waiting:
            self._feed()
            raise DontCloseSpider

    def _in_window(self, url: str) -> bool:
        """Whether the URL's date (if it has one) may be inside the window."""
        window = self.arguments.window
        # Without a window no URL's date is read (unquoting a path: ~20 µs a link).
        return window.unbounded or window.may_contain(urls.date_in_path(urls.path_of(url)))

    # -- the archive (archive=1): year pages → day pages → items; monthly sitemaps ---------

    def archive_requests(self, idle: bool = False) -> Iterator[Request]:
        """What the backfill needs requested now (``BackfillExtension`` decides)."""
        archive = self.archive_backfill
        if archive is None or not archive.ready:
            return
        if archive.take_index():
            yield self._archive_request(
                SITEMAP_INDEX_PATH, self.parse_sitemap_index, Source.SITEMAPS
            )
        planner = archive.planner
        while True:
            year = planner.calendar_to_fetch()
            if year is not None:
                page = archive.year_page(year)
                if page is not None:
                    yield self._archive_request(
                        urls.path_of(page), self.parse_year, Source.ARCHIVE, year=year
                    )
                continue
            days = planner.next_days()
            if not days:
                break
            for planned in days:
                url = planned.url or archive_pages.fallback_day_url(planned.day)
                if planned.url is None:
                    logger.info("no link to the day page of %s: requesting %s", planned.day, url)
                yield self._archive_request(
                    urls.path_of(url), self.parse_day, Source.ARCHIVE, day=planned.day
                )
        month = archive.next_month(idle=idle)
        if month is not None:
            yield self._archive_request(
                urls.path_of(month.url), self.parse_monthly, Source.SITEMAPS, month=month
            )

    def parse_year(self, response: TextResponse, year: int) -> Iterator[Request]:
        assert self.archive_backfill is not None
        selector = self._archive_page(response)
        if not archive_pages.CALENDAR(selector.root):
            # Read as a calendar of no day, every day would be recorded done, for good.
            self._archive_unread(response, "year page has no calendar")
            self.archive_backfill.year_failed(year, "no_calendar")
            yield from self.archive_requests()
            return
        links = archive_pages.day_links(selector, response.url, self.config.base_url)
        del selector
        self.archive_backfill.year_read(year, {link.day: link.url for link in links})
        yield from self.archive_requests()

    def parse_day(self, response: TextResponse, day: date) -> Iterator[Request]:
        assert self.archive_backfill is not None
        selector = self._archive_page(response)
        if not archive_pages.DAY_LIST(selector.root):
            self._archive_unread(response, "day page has no list of articles")
            self.archive_backfill.day_failed(day, "no_day_list")  # read again by the next run
            yield from self.archive_requests()
            return
        items, others = archive_pages.day_items_and_others(
            selector, response.url, self.config.base_url
        )
        del selector
        if others:
            self._count("archive/items/not_followed", others)
            logger.info(
                "day page %s lists %d links that are no article of the site (another host,"
                " a listing): not followed",
                response.url,
                others,
            )
        wanted = [item.url for item in items if self._in_window(item.url)]
        self._count("skipped/outside_window", len(items) - len(wanted))
        self.archive_backfill.day_listed(day, wanted)
        yield from self._article_requests(wanted, 0, Via.ARCHIVE, self._canonical(response))
        yield from self.archive_requests()

    def parse_sitemap_index(self, response: TextResponse) -> Iterator[Request]:
        assert self.archive_backfill is not None
        self._archive_answered(response, Source.SITEMAPS)
        children: list[str] = []
        try:
            for entry in iter_sitemap(response.body, response.url, self.config.base_url):
                if entry.kind == "sitemap":
                    children.append(entry.url)
        except MalformedFeedError as exc:
            self._count("failed/malformed_sitemap")
            logger.error("sitemap index %s skipped: %s", response.url, exc)
            self.archive_backfill.index_failed("malformed")
            return
        self.archive_backfill.index_read(archive_pages.monthly_sitemaps(children))
        yield from self.archive_requests()

    def parse_monthly(self, response: TextResponse, month: MonthlySitemap) -> Iterator[Request]:
        assert self.archive_backfill is not None
        self._archive_answered(response, Source.SITEMAPS)
        page = self._canonical(response)
        batch: list[str] = []
        try:
            # The monthly sitemaps are an authority on what is an article, like day pages.
            for entry in iter_sitemap(
                response.body, response.url, self.config.base_url, urls.archive_item_url
            ):
                if entry.kind != "article":
                    continue
                batch.append(entry.url)
                if len(batch) >= SITEMAP_BATCH:
                    yield from self._article_requests(batch, 0, Via.SITEMAP, page)
                    batch = []
            yield from self._article_requests(batch, 0, Via.SITEMAP, page)
        except MalformedFeedError as exc:
            self._count("failed/malformed_sitemap")
            logger.error("monthly sitemap %s skipped: %s", response.url, exc)
            self.archive_backfill.month_failed("malformed")
        else:
            self.archive_backfill.month_read()
        yield from self.archive_requests()

    def on_archive_error(self, failure: Failure) -> Iterator[Request]:
        """A year page, day page or sitemap of the archive failed for good."""
        self._archive_failed(failure.request, failure_reason(failure))
        yield from self.archive_requests()

    def request_dropped(self, request: Request) -> None:
        """The dupefilter refused a request: no callback, no errback. An archive page's
        redirect to a page fetched already (a month's sitemap to the index, a year to
        another year) would otherwise leave its year or month waiting for ever."""
        if request.errback == self.on_archive_error:
            reason = "redirect_loop" if request.meta.get("redirect_urls") else "duplicate_request"
            self._archive_failed(request, reason)

    def _archive_failed(self, request: Request, reason: str) -> None:
        archive = self.archive_backfill
        self._count(f"failed/{reason}")
        logger.warning("archive page unavailable (%s): %s", reason, request.url)
        # A backfill's start points: if none answers, the unreachable verdict names why.
        self.crawler.signals.send_catch_log(
            rfi_signals.start_failed, url=request.url, reason=reason
        )
        if archive is None:
            return
        kwargs = request.cb_kwargs
        if "day" in kwargs:
            archive.day_failed(kwargs["day"], reason)
        elif "year" in kwargs:
            archive.year_failed(kwargs["year"], reason)
        elif "month" in kwargs:
            archive.month_failed(reason)
        else:
            archive.index_failed(reason)

    def _archive_request(self, path: str, callback: Any, source: Source, **kwargs: Any) -> Request:
        return Request(
            self.config.base_url + urls.quote_path(path),
            callback,
            cb_kwargs=kwargs,
            errback=self.on_archive_error,
            priority=LISTING_PRIORITY,
            meta={"rfi_source": str(source)},
        )

    def _archive_answered(self, response: TextResponse, source: Source) -> None:
        assert self.archive_backfill is not None
        self._answered(response)
        self.archive_backfill.answered(source)

    def _archive_unread(self, response: TextResponse, what: str) -> None:
        self._count("archive/unread_pages")
        logger.warning("%s (a changed layout?): %s; counted as failed", what, response.url)

    def _archive_page(self, response: TextResponse) -> Selector:
        """A year or day page answered: its parsed page, whose aside (listing the archive's
        years) is read here."""
        assert self.archive_backfill is not None
        self._archive_answered(response, Source.ARCHIVE)
        selector = page_selector(response)
        self.archive_backfill.aside(
            archive_pages.year_links(selector, response.url, self.config.base_url)
        )
        return selector

    # -- plumbing -------------------------------------------------------------------------

    def _listing_request(self, path: str, callback: Any, **kwargs: Any) -> Request:
        request = Request(
            self.config.base_url + urls.quote_path(path),
            callback,
            cb_kwargs=kwargs,
            errback=self.on_error,
            priority=LISTING_PRIORITY,
            meta={"rfi_listing": True},
        )
        if self.url_limit and len(request.url) > self.url_limit:
            # Scrapy's UrlLengthMiddleware drops it with an INFO line: said louder here.
            self._count("listing/url_too_long")
            logger.warning(
                "listing not requested (url_too_long: %d characters, URLLENGTH_LIMIT %d): %s…",
                len(request.url),
                self.url_limit,
                request.url[:200],
            )
        return request

    def _canonical(self, response: TextResponse) -> str:
        return urls.canonical_url(response.url, self.config.base_url) or response.url

    def _answered(self, response: TextResponse) -> None:
        self.crawler.signals.send_catch_log(rfi_signals.start_answered, url=response.url)

    def _settle(self, url: str, outcome: str) -> None:
        self.crawler.signals.send_catch_log(rfi_signals.url_settled, url=url, outcome=outcome)

    def on_error(self, failure: Failure) -> None:
        request = failure.request
        reason = failure_reason(failure)
        self._count(f"failed/{reason}")
        url = request.cb_kwargs.get("url")
        if url is not None:
            outcome = {"robots": "skipped/robots", "cancelled": "cancelled"}
            self._settle(url, outcome.get(reason, f"failed/{reason}"))
        best = None if url is None else self.frontier.best(url)
        if request.meta.get("rfi_listing") or (best is not None and best.via == Via.URL):
            self.crawler.signals.send_catch_log(
                rfi_signals.start_failed, url=request.url, reason=reason
            )
        if request.meta.get("rfi_listing"):
            self._count("start_point/failed")
            logger.warning(
                "listing unavailable (%s), crawl goes on without it: %s", reason, request.url
            )
        else:
            logger.warning("article not fetched (%s): %s", reason, request.url)

    def closed(self, reason: str) -> None:
        self._count("related/depth_improved", self.frontier.improved)

    def _count(self, key: str, count: int = 1) -> None:
        if count:
            self.crawler.stats.inc_value(f"rfi/{key}", count)
