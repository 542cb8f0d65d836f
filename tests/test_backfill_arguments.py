"""``archive=1`` and the ``rfi_cn_backfill`` spider: arguments checked once, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest
from scrapy.utils.test import get_crawler

from rfi_crawler.arguments import ARGUMENTS, SpiderArguments
from rfi_crawler.config import REAL_ORIGIN, ConfigError
from rfi_crawler.spiders.rfi_cn import RfiCnSpider
from rfi_crawler.spiders.rfi_cn_backfill import RfiCnBackfillSpider
from tests.crawling import PROJECT_ROOT, crawl_env, plain_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite


def parsed(backfill: bool = False, **kwargs: str) -> SpiderArguments:
    return SpiderArguments.from_kwargs(kwargs, REAL_ORIGIN, backfill=backfill)


def refused(backfill: bool = False, **kwargs: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parsed(backfill, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_archive_is_a_documented_argument():
    assert "archive" in ARGUMENTS


@pytest.mark.parametrize(
    ("kwargs", "archive", "since", "until"),
    [
        ({}, False, None, None),
        ({"archive": "0", "since": "2019-01-01"}, False, date(2019, 1, 1), None),
        ({"archive": "1", "since": "2019-01-01"}, True, date(2019, 1, 1), None),
        ({"archive": "yes", "since": "2019-01-01", "until": "2019-12-31"}, True, date(2019, 1, 1),
         date(2019, 12, 31)),
    ],
)  # fmt: skip
def test_archive_values(kwargs, archive, since, until):
    arguments = parsed(**kwargs)
    assert arguments.archive is archive
    assert (arguments.window.since, arguments.window.until) == (since, until)


@pytest.mark.parametrize(
    ("backfill", "kwargs", "start"),
    [
        (False, {"archive": "1"}, "archive=1 needs since=YYYY-MM-DD"),
        (False, {"archive": "1", "since": "2999-01-01"}, "since='2999-01-01' is after today"),
        (False, {"archive": "1", "until": "2019-01-01"}, "archive=1 needs since=YYYY-MM-DD"),
        (False, {"archive": "2", "since": "2019-01-01"}, "archive='2' is not accepted"),
        (False, {"archive": "", "since": "2019-01-01"}, "archive='' is not accepted"),
        (False, {"archive": "1", "since": "2019-01-01", "urls": "/cn/中国/20190101-a"},
         "archive=1 and urls= are not accepted together"),
        (True, {}, "archive=1 needs since=YYYY-MM-DD"),
        (True, {"archive": "0", "since": "2019-01-01"},
         "archive=0 is not accepted by rfi_cn_backfill"),
        (True, {"arcive": "1"}, "unknown spider argument arcive: did you mean archive?"),
    ],
)  # fmt: skip
def test_archive_refusals_are_one_line(backfill, kwargs, start):
    assert refused(backfill, **kwargs).startswith(start)


def test_the_backfill_spider_implies_archive():
    arguments = parsed(True, since="2019-01-01", until="2019-03-01")
    assert arguments.archive and arguments.window.since == date(2019, 1, 1)
    assert parsed(True, since="2019-01-01", archive="1").archive


def test_the_backfill_spider_is_rfi_cn_with_a_name_of_its_own():
    assert RfiCnBackfillSpider.name == "rfi_cn_backfill" != RfiCnSpider.name
    assert issubclass(RfiCnBackfillSpider, RfiCnSpider)
    assert RfiCnBackfillSpider.backfill and not RfiCnSpider.backfill
    crawler = get_crawler(RfiCnBackfillSpider, {"RFI_BASE_URL": "http://127.0.0.1:9"})
    spider = RfiCnBackfillSpider.from_crawler(crawler, since="2019-01-01")
    assert spider.arguments.archive and spider.name == "rfi_cn_backfill"
    with pytest.raises(ConfigError):
        RfiCnBackfillSpider.from_crawler(get_crawler(RfiCnBackfillSpider), until="2019-01-01")


def test_scrapy_lists_both_spiders_and_refuses_a_backfill_without_since():
    env = crawl_env()
    listed = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert listed.stdout.split() == ["rfi_cn", "rfi_cn_backfill"]
    done = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "rfi_cn_backfill", "-a", "until=2019-01-01"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "rfi_cn_backfill:" in line]
    assert errors == [
        "scrapy crawl rfi_cn_backfill: archive=1 needs since=YYYY-MM-DD: the first day to "
        "backfill (until defaults to today in Paris)"
    ]


def test_a_backfill_of_a_site_with_no_archive_says_what_failed(tmp_path):
    # The replica without --years has no archive: its year page and sitemap index are 404.
    site = ReplicaSite(articles=40, seed=3)
    with ReplicaServer(site) as server:
        since = "2000-01-01"  # years of archive pages, each missing: several idle rounds
        done = plain_crawl(
            server.base_url, tmp_path / "data", "-a", "archive=1", "-a", f"since={since}"
        )
    assert done.returncode == 6, done.stderr[-3000:]  # unreachable
    (verdict,) = [line for line in done.stderr.splitlines() if "ERROR: unreachable" in line]  # once
    assert "http_404" in verdict and "do not exist" in verdict, verdict
