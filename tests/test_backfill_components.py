"""The backfill's components one by one: blocks counted per source, done days written
once their records are committed, the progress figures, the ledger's outcome signal."""

from __future__ import annotations

import logging
import re
from datetime import date
from types import SimpleNamespace

import pytest
from scrapy import Request
from scrapy.http import Response

from rfi_crawler import signals as rfi_signals
from rfi_crawler.backfill import Source
from rfi_crawler.backfill_progress import BackfillProgress, progress
from rfi_crawler.backfill_run import BackfillExtension, Status, StoreDays
from rfi_crawler.middlewares import BlockBackoffMiddleware
from rfi_crawler.outcomes import OutcomeLedgerExtension
from rfi_crawler.state import open_store
from tests.crawling import built_crawler

DAY_PAGE = "http://127.0.0.1:8000/cn/%E6%A1%A3/2020/01/01-x"
ARTICLE = "http://127.0.0.1:8000/cn/%E4%B8%AD%E5%9B%BD/20200101-x"


# -- blocks per source ------------------------------------------------------------------


@pytest.fixture
def backoff():
    crawler = built_crawler(
        {"RFI_BACKOFF_BASE": "0.01", "RFI_BACKOFF_MAX": "0.01", "RFI_BLOCK_THRESHOLD": "3"}
    )
    crawler.crawling = True
    crawler.engine = SimpleNamespace(running=True)
    return BlockBackoffMiddleware.from_crawler(crawler)


def listen(crawler, signal) -> tuple[list, object]:
    """What a signal tells (the receiver is returned: signals hold it weakly)."""
    heard: list = []

    def receiver(source: str) -> None:
        heard.append(source)

    crawler.signals.connect(receiver, signal)
    return heard, receiver


def answer(middleware, url: str, status: int, source: str | None = None):
    request = Request(url, meta={"rfi_source": source} if source else {})
    return middleware.process_response(request, Response(url, status=status))


def test_blocks_of_a_source_announce_it_and_do_not_stop_the_crawl(backoff, monkeypatch):
    stopped = []
    monkeypatch.setattr(backoff, "_stop_blocked", stopped.append)
    told, _receiver = listen(backoff.crawler, rfi_signals.source_blocked)
    for _ in range(2):
        answer(backoff, DAY_PAGE, 403, "archive")
    answer(backoff, ARTICLE, 200)  # the site's pages answer: not the archive's count
    answer(backoff, DAY_PAGE, 403, "archive")
    assert told == ["archive"] and stopped == []
    # Given up on: its next block is neither retried nor counted again.
    response = Response(DAY_PAGE, status=403)
    request = Request(DAY_PAGE, meta={"rfi_source": "archive"})
    assert backoff.process_response(request, response) is response
    assert told == ["archive"]
    # The site's own pages still stop the crawl at the threshold, whatever the sources do.
    for _ in range(3):
        answer(backoff, ARTICLE, 403)
    assert len(stopped) == 1


def test_a_source_answering_resets_only_its_own_count(backoff, monkeypatch):
    told, _receiver = listen(backoff.crawler, rfi_signals.source_blocked)
    for _ in range(2):
        answer(backoff, DAY_PAGE, 403, "archive")
        answer(backoff, DAY_PAGE, 200, "archive")
        answer(backoff, ARTICLE, 403)  # two site blocks in a row, then one more below
    assert told == [] and backoff.consecutive == 2


# -- done days wait for their records ----------------------------------------------------


@pytest.fixture
def store(tmp_path):
    store = open_store(str(tmp_path / "state.sqlite3"))
    yield store
    store.close()


def record(n: int) -> dict:
    return {
        "id": f"id-{n}",
        "url": f"https://www.rfi.fr/cn/x/20200101-{n}",
        "content_hash": "h",
        "published_at": "2020-01-01T08:00:00+00:00",
    }


def test_a_done_day_is_written_once_its_records_are_committed(store):
    days = StoreDays(SimpleNamespace(signals=None))
    days.open(store, "run-1")
    one, two = date(2020, 1, 1), date(2020, 1, 2)
    assert not days.is_done(one)
    days.mark_done(one, frozenset({record(1)["url"]}))
    days.mark_done(two, frozenset())  # nothing to wait for
    assert days.is_done(one)  # for this run's planning, at once
    assert days.flush() == 1
    assert store.archive_days_done("2020-01-01", "2020-01-31") == {"2020-01-02"}
    claim = store.claim(record(1), "run-1", "2026-01-01T00:00:00+00:00")
    assert days.flush() == 0  # claimed, not committed: a kill now would lose the line
    store.commit([("id-1", claim.version)], "run-1", "2026-01-01T00:00:01+00:00")
    assert days.flush() == 1 and days.awaiting == {}
    assert store.archive_days_done("2020-01-01", "2020-01-31") == {"2020-01-01", "2020-01-02"}
    fresh = StoreDays(SimpleNamespace(signals=None))
    fresh.open(store, "run-2")
    assert fresh.is_done(one) and fresh.is_done(two) and not fresh.is_done(date(2020, 1, 3))


def test_a_failing_store_stops_the_run_not_the_planner(store):
    failures = []
    crawler = SimpleNamespace(
        signals=SimpleNamespace(send_catch_log=lambda signal, error: failures.append(error))
    )
    days = StoreDays(crawler)
    days.open(store, "run-1")
    store.close()
    assert days.is_done(date(2020, 1, 1)) is False
    assert len(failures) == 1 and days.store is None


# -- the extension: only with archive=1 ---------------------------------------------------


def test_the_backfill_components_are_built_only_for_a_backfill():
    from scrapy.exceptions import NotConfigured

    plain = built_crawler()
    for component in (BackfillExtension, BackfillProgress):
        with pytest.raises(NotConfigured):
            component.from_crawler(plain)
    backfill = built_crawler(archive="1", since="2020-01-01", until="2020-01-31")
    extension = BackfillExtension.from_crawler(backfill)
    assert (extension.since, extension.until) == (date(2020, 1, 1), date(2020, 1, 31))
    assert set(extension.status.values()) == {Status.UNUSED}


def test_the_ledger_tells_each_urls_first_outcome_once():
    crawler = built_crawler()
    ledger = crawler.get_extension(OutcomeLedgerExtension)
    told = []

    def hear(url: str, outcome: str) -> None:
        told.append((url, outcome))

    crawler.signals.connect(hear, rfi_signals.url_outcome)
    crawler.signals.send_catch_log(rfi_signals.url_met, url="a")
    crawler.signals.send_catch_log(rfi_signals.url_settled, url="a", outcome="skipped/known")
    crawler.signals.send_catch_log(rfi_signals.url_settled, url="a", outcome="exported")
    request = Request(ARTICLE, cb_kwargs={"url": "b"})
    ledger.item_scraped({}, SimpleNamespace(request=request))
    ledger.request_dropped(Request(ARTICLE, cb_kwargs={"url": "c"}))
    assert told == [("a", "skipped/known"), ("b", "exported"), ("c", "failed/duplicate_request")]
    assert ledger.ledger.has_outcome("a") and not ledger.ledger.has_outcome("d")


# -- progress ------------------------------------------------------------------------------


class Stats(dict):
    def get_value(self, key, default=None):
        return self.get(key, default)


@pytest.mark.parametrize(
    ("stats", "elapsed", "figures", "line"),
    [
        (
            {"rfi/archive/days/total": 730, "rfi/archive/days/skipped_done": 100,
             "rfi/archive/days/done": 30, "rfi/archive/days/no_archive": 0,
             "rfi/exported/new": 90, "rfi/exported/changed": 3},
            600.0,
            (130, 730, 93, 12000),  # 600 days left at 30 days per 600 s
            "backfill: 130/730 days done, 93 articles exported, 45 pages/min, ETA 3h20m",
        ),
        (
            {"rfi/archive/days/total": 10},
            5.0,
            (0, 10, 0, None),
            "backfill: 0/10 days done, 0 articles exported, 45 pages/min, ETA unknown",
        ),
        (
            {"rfi/archive/days/total": 10, "rfi/archive/days/done": 8,
             "rfi/archive/days/no_archive": 2},
            5.0,
            (10, 10, 0, 0),
            "backfill: 10/10 days done, 0 articles exported, 45 pages/min, ETA 0m00s",
        ),
    ],
)  # fmt: skip
def test_progress_figures_and_line(stats, elapsed, figures, line):
    found = progress(Stats(stats), elapsed, 45.0)
    assert (found.days_done, found.days_total, found.exported, found.eta_seconds) == figures
    assert found.line() == line


def test_progress_ticks_log_one_line_and_the_end_reaches_the_stats(caplog):
    crawler = built_crawler(archive="1", since="2020-01-01", until="2020-01-10")
    crawler.stats.set_value("rfi/archive/days/total", 10)
    crawler.stats.set_value("rfi/archive/days/done", 4)
    crawler.stats.set_value("response_received_count", 12)
    ticker = BackfillProgress(crawler)
    with caplog.at_level(logging.INFO, logger="rfi_crawler.backfill_progress"):
        ticker.tick()
    lines = [r.getMessage() for r in caplog.records if r.name == "rfi_crawler.backfill_progress"]
    assert len(lines) == 1
    assert re.fullmatch(
        r"backfill: 4/10 days done, 0 articles exported, \d+ pages/min, ETA .+", lines[0]
    )
    ticker.spider_closed()
    assert crawler.stats.get_value("rfi/archive/progress/days_done") == 4
    assert crawler.stats.get_value("rfi/archive/progress/days_total") == 10
    assert crawler.stats.get_value("rfi/archive/progress/eta_seconds") is not None


def test_archive_pages_failing_in_a_row_halt_the_days_not_the_run():
    crawler = built_crawler(
        {"RFI_BLOCK_THRESHOLD": "3"}, archive="1", since="2020-01-01", until="2020-12-31"
    )
    extension = BackfillExtension.from_crawler(crawler)
    for _ in range(5):
        extension.day_failed(date(2020, 1, 1), "http_404")  # answers: the page is not there
    extension.day_failed(date(2020, 1, 2), "timeout")
    extension.answered(Source.ARCHIVE)  # an answer resets the count
    for _ in range(2):
        extension.day_failed(date(2020, 1, 3), "connection")
    assert not extension.planner.halted
    extension.day_failed(date(2020, 1, 4), "http_5xx")
    assert extension.planner.halted and extension.status[Source.ARCHIVE] is Status.FAILED
    assert not extension.closing  # the sitemaps may still carry the run
    assert crawler.stats.get_value("rfi/archive/archive/failed/http_404") == 5
