"""The re-check policy as a crawl extension: plans re-checks, records removal evidence."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import signals

from rfi_crawler import signals as rfi_signals
from rfi_crawler import urls
from rfi_crawler.config import crawl_config
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.recheck import format_schedule, refresh_days_schedule
from rfi_crawler.run import CrawlRun, utc_now
from rfi_crawler.state import Removal
from rfi_crawler.store_errors import STORE_ERRORS

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from rfi_crawler.state import CheckState, KnownArticle, StateStore

logger = logging.getLogger(__name__)

# Outcomes of an article request that say the article is gone (404 and 410 are not
# retried). A redirect is judged by the page it ends on: not an article.
GONE = {"failed/http_404": "http_404", "failed/http_410": "http_410"}


class RefreshExtension(RefreshPolicy):
    """The policy as a crawl component: the store arrives with ``store_opened``, the
    ``refresh`` spider argument (if given) overrides ``RFI_REFRESH``; the run's re-checks
    are planned at ``spider_opened``. The spider finds it through the crawler, as the
    ``RefreshPolicy`` it is (``crawler.get_extension``). A known article answering 404/410,
    or redirected to a page that is no article, is recorded in the store; the second such
    check, in another run, records it removed and sends ``article_event`` (the exporter
    writes the event line). A store error stops the run (``store_failed``) and downloads
    the batch rather than skip it."""

    def __init__(self, crawler: Crawler) -> None:
        config = crawl_config(crawler)
        self.fixed_now = config.recheck_now  # RFI_RECHECK_NOW: a fake clock for tests
        self.origin, self.base_url = config.origin, config.base_url
        super().__init__(
            None, config.schedule, config.recheck_max_per_run, config.refresh, self.clock()
        )
        if config.refresh_days is not None:
            logger.warning(
                "RFI_REFRESH_DAYS is deprecated: it is read as RFI_RECHECK_SCHEDULE=%s%s",
                format_schedule(config.schedule),
                " (RFI_RECHECK_SCHEDULE is set and wins)"
                if config.schedule != refresh_days_schedule(config.refresh_days)
                else "",
            )
        self.crawler = crawler
        self.run_id: str | None = None
        self.redirected: dict[str, str] = {}  # article URL → where its redirect ended
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.store_opened, signal=rfi_signals.store_opened)
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.url_settled, signal=rfi_signals.url_settled)
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RefreshExtension:
        return cls(crawler)

    def clock(self) -> datetime:
        """Now, as the schedule and the store's check times see it."""
        return self.fixed_now or datetime.now(UTC)

    def now_text(self) -> str:
        return utc_now(self.fixed_now)

    def store_opened(self, store: StateStore) -> None:
        self.store = store

    def spider_opened(self, spider: Spider) -> None:
        """Take the spider's ``refresh`` argument and plan the re-checks."""
        refresh = getattr(getattr(spider, "arguments", None), "refresh", None)
        if refresh is not None:
            self.refresh = refresh
        run = self.crawler.get_extension(CrawlRun)
        self.run_id = None if run is None else run.run_id
        self.now = self.clock()
        try:
            planned = self.plan()
        except STORE_ERRORS as exc:
            self._failed(exc)
            return
        stats = self.crawler.stats
        stats.set_value("rfi/recheck/due", self.due_count)
        stats.set_value("rfi/recheck/planned", len(planned))
        stats.set_value("rfi/recheck/over_budget", self.due_count - len(planned))
        if planned:
            logger.info(
                "re-checking %d known articles (%d due, budget %d)",
                len(planned),
                self.due_count,
                self.budget,
            )

    def skip(self, found: list[str]) -> dict[str, KnownArticle]:
        try:
            return super().skip(found)
        except STORE_ERRORS as exc:
            self._failed(exc)
            return {}

    def response_received(
        self, response: Response, request: Request, spider: Spider | None = None
    ) -> None:
        """Note where an article request's redirect ended, when that is no content page."""
        url = request.cb_kwargs.get("url")
        if url is not None and request.meta.get("redirect_urls") and self._away(response.url):
            self.redirected[url] = response.url

    def url_settled(self, url: str, outcome: str) -> None:
        evidence = GONE.get(outcome)
        if outcome == "failed/no_article" and url in self.redirected:
            evidence = "redirect"
        if evidence is not None:
            self._check_failed(url, evidence)

    def request_dropped(self, request: Request, spider: Spider | None = None) -> None:
        """A redirected article request the dupefilter refused: its target was requested
        already (a section page, the homepage). Unless the target is a content page (a loop,
        or a move to another article), the redirect led away from the article."""
        url = request.cb_kwargs.get("url")
        if url is None or not request.meta.get("redirect_urls"):
            return
        if not self._away(request.url):
            return
        self.redirected[url] = request.url
        self._check_failed(url, "redirect")

    def _away(self, target: str) -> bool:
        """A redirect target that is no content page of the site (a loop, or a move to
        another article, is no sign of removal)."""
        path = urls.site_path(target, self.base_url)
        return path is None or not urls.is_content_path(path)

    def _check_failed(self, url: str, evidence: str) -> None:
        if self.store is None or self.run_id is None:
            return
        try:
            found = self.store.check_failed(url, evidence, self.run_id, self.now_text())
        except STORE_ERRORS as exc:
            self._failed(exc)
            return
        if found is None:
            return  # never exported: nothing to remove
        verdict, state = found
        self.crawler.stats.inc_value(f"rfi/recheck/{verdict}")
        if verdict is Removal.REMOVED:
            logger.warning("article removed (%s, second check): %s", evidence, url)
            self.crawler.signals.send_catch_log(
                rfi_signals.article_event, event=self._removed(state, evidence, url)
            )

    def _removed(self, state: CheckState, evidence: str, url: str) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event": "removed",
            "url": state.url,
            "id": state.id,
            "published_at": state.published_at,
            "detected_at": self.now_text(),
            "evidence": evidence,
            "first_failed_at": state.last_checked,
            "last_version": state.version,
            "run_id": self.run_id,
            "origin": self.origin,
        }
        if evidence == "redirect":
            event["redirected_to"] = self.redirected[url]
        return event

    def _failed(self, exc: Exception) -> None:
        self.crawler.signals.send_catch_log(rfi_signals.store_failed, error=exc)
        self.store = None  # no further queries on a failed store
