"""The re-check extension's wires: the deprecated alias, what a failed check of a known
article records (404/410, a redirect to a page that is no article), and the event it sends."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse

from rfi_crawler import signals as rfi_signals
from rfi_crawler.recheck import DEFAULT_SCHEDULE, format_schedule
from rfi_crawler.refresh import RefreshExtension
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.crawling import built_crawler

URL = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261120-x"
PUBLISHED = "2026-11-20T08:00:00+00:00"
NOW = "2026-11-22T08:00:00+00:00"


@pytest.fixture
def store(tmp_path):
    store = SqliteStateStore(tmp_path / "s.sqlite3")
    record = {"id": "a", "url": URL, "content_hash": "0" * 64, "published_at": PUBLISHED}
    store.claim(record, "r1", PUBLISHED)
    store.commit([("a", 1)], "r1", PUBLISHED)
    yield store
    store.close()


def extension(store, run_id, now=NOW, **settings):
    crawler = built_crawler({"RFI_RECHECK_NOW": now, **settings})
    found = crawler.get_extension(RefreshExtension)
    found.store_opened(store)
    found.run_id = run_id
    events: list[dict] = []

    def collect(event: dict) -> None:
        events.append(event)

    crawler.collect = collect  # signals hold receivers weakly
    crawler.signals.connect(collect, rfi_signals.article_event)
    return crawler, found, events


def test_refresh_days_still_works_with_a_deprecation_warning(caplog):
    with caplog.at_level(logging.WARNING):
        crawler = built_crawler({"RFI_REFRESH_DAYS": "3"})
    found = crawler.get_extension(RefreshExtension)
    assert format_schedule(found.schedule) == "1h,6h,1d,3d"
    assert "RFI_REFRESH_DAYS is deprecated" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        built_crawler({"RFI_REFRESH_DAYS": "3", "RFI_RECHECK_SCHEDULE": "2h"})
    assert "RFI_RECHECK_SCHEDULE is set and wins" in caplog.text
    caplog.clear()
    # Given, the schedule wins even where its value is the default's.
    with caplog.at_level(logging.WARNING):
        given = built_crawler({"RFI_REFRESH_DAYS": "3", "RFI_RECHECK_SCHEDULE": DEFAULT_SCHEDULE})
    assert format_schedule(given.get_extension(RefreshExtension).schedule) == DEFAULT_SCHEDULE
    assert "RFI_RECHECK_SCHEDULE is set and wins" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        plain = built_crawler().get_extension(RefreshExtension)
    assert "deprecated" not in caplog.text
    assert format_schedule(plain.schedule) == "1h,6h,1d,3d,7d,30d"


@pytest.mark.parametrize(
    ("outcome", "evidence"),
    [("failed/http_404", "http_404"), ("failed/http_410", "http_410")],
)
def test_a_gone_answer_twice_in_two_runs_is_a_removal(store, outcome, evidence):
    crawler, first, events = extension(store, "r2")
    first.url_settled(URL, outcome)
    assert crawler.stats.get_value("rfi/recheck/pending") == 1 and events == []
    crawler, second, events = extension(store, "r3", "2026-11-22T09:00:00+00:00")
    second.url_settled(URL, outcome)
    assert crawler.stats.get_value("rfi/recheck/removed") == 1
    (event,) = events
    assert event["event"] == "removed" and event["evidence"] == evidence
    assert (event["first_failed_at"], event["detected_at"]) == (NOW, "2026-11-22T09:00:00+00:00")
    assert event["origin"] == "https://www.rfi.fr" and event["last_version"] == 1


@pytest.mark.parametrize(
    "outcome", ["failed/timeout", "failed/http_5xx", "failed/http_403", "failed/no_article"]
)
def test_other_failures_are_no_removal_evidence(store, outcome):
    _, found, _ = extension(store, "r2")
    found.url_settled(URL, outcome)  # no_article without a redirect: a page we cannot read
    (state,) = store.recheck_candidates("2026-01-01")
    assert state.check_outcome == "ok" and state.last_checked == PUBLISHED


def test_a_redirect_to_a_page_that_is_no_article_is_removal_evidence(store):
    for run, now in (("r2", NOW), ("r3", "2026-11-22T09:00:00+00:00")):
        crawler, found, events = extension(store, run, now)
        request = Request(
            "http://127.0.0.1:1/cn/", cb_kwargs={"url": URL}, meta={"redirect_urls": [URL]}
        )
        response = HtmlResponse("http://127.0.0.1:1/cn/", body=b"<html></html>", request=request)
        found.response_received(response, request, crawler.spider)
        found.url_settled(URL, "failed/no_article")
    (event,) = events
    assert (event["evidence"], event["redirected_to"]) == ("redirect", "http://127.0.0.1:1/cn/")


@pytest.mark.parametrize(
    ("target", "removal"),
    [
        ("http://127.0.0.1:1/cn/", True),  # the homepage, already requested: dropped
        ("http://127.0.0.1:1/cn/%E4%B8%AD%E5%9B%BD/", True),  # a section page
        ("http://127.0.0.1:1/cn/%E4%B8%AD%E5%9B%BD/20261121-moved", False),  # an article
        (URL.replace("https://www.rfi.fr", "http://127.0.0.1:1"), False),  # a loop
    ],
)
def test_a_redirect_the_dupefilter_drops_is_judged_by_its_target(store, target, removal):
    settings = {"RFI_BASE_URL": "http://127.0.0.1:1"}
    for run, now in (("r2", NOW), ("r3", "2026-11-22T09:00:00+00:00")):
        crawler, found, events = extension(store, run, now, **settings)
        request = Request(target, cb_kwargs={"url": URL}, meta={"redirect_urls": [URL]})
        found.request_dropped(request, crawler.spider)
    assert [e["redirected_to"] for e in events] == ([target] if removal else [])
    assert (store.recheck_candidates("2026-01-01")[0].removed_at is not None) is removal


def test_an_article_never_exported_is_not_recorded(store):
    crawler, found, events = extension(store, "r2")
    found.url_settled(URL + "-other", "failed/http_404")
    assert events == [] and crawler.stats.get_value("rfi/recheck/pending") is None


def test_the_plan_counts_due_planned_and_over_budget(store):
    crawler, found, _ = extension(store, "r2", RFI_RECHECK_MAX_PER_RUN="0")
    found.spider_opened(crawler.spider)
    stats = crawler.stats
    assert [stats.get_value(f"rfi/recheck/{k}") for k in ("due", "planned", "over_budget")] == [
        1,
        0,
        1,
    ]


def test_a_removed_article_met_again_is_fetched(store):
    store.check_failed(URL, "http_404", "r2", NOW)
    store.check_failed(URL, "http_404", "r3", NOW)
    crawler, found, _ = extension(
        store, "r4", datetime(2026, 11, 20, 8, 10, tzinfo=UTC).isoformat()
    )
    found.spider_opened(crawler.spider)
    assert found.rechecks == []  # not due by the schedule…
    assert found.skip([URL]) == {}  # …but a listing showing it again gets it fetched


def test_planned_rechecks_are_requested_though_no_listing_shows_them(store):
    crawler, found, _ = extension(store, "r2", "2026-11-20T10:00:00+00:00")  # 2 h: 1 h slot
    found.spider_opened(crawler.spider)
    crawler.spider.spider_opened()  # finds the extension: its plan is the spider's
    assert found.rechecks == [URL]

    async def requests():
        return [request async for request in crawler.spider.start()]

    started = asyncio.run(requests())
    (recheck,) = [r for r in started if r.cb_kwargs.get("url") == URL]
    assert recheck.callback == crawler.spider.parse_article
    assert recheck.url == URL  # on the configured origin (here the real one)
    # A leaf: its related links would lie past the depth limit.
    best = crawler.spider.frontier.best(URL)
    assert (best.via, best.depth) == ("recheck", crawler.spider.arguments.related_depth)
