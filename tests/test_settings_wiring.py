"""Settings and spider arguments reach the components, and bad values fail clearly."""

from __future__ import annotations

from datetime import date

import pytest
from scrapy.utils.test import get_crawler

from rfi_crawler import settings as project_settings
from rfi_crawler.arguments import DateWindow, SpiderArguments
from rfi_crawler.config import ConfigError, RfiConfig
from rfi_crawler.spiders.rfi_cn import RfiCnSpider


def project(**overrides):
    values = {k: v for k, v in vars(project_settings).items() if k.isupper()}
    return {**values, **overrides}


def make_spider(settings: dict | None = None, **kwargs) -> RfiCnSpider:
    crawler = get_crawler(RfiCnSpider, project(**(settings or {})))
    return RfiCnSpider.from_crawler(crawler, **kwargs)


def test_defaults_are_polite_to_the_real_site():
    spider = make_spider()
    settings = spider.crawler.settings
    assert spider.config == RfiConfig()
    assert spider.config.base_url == "https://www.rfi.fr"
    assert settings.getbool("ROBOTSTXT_OBEY")
    assert settings.getbool("AUTOTHROTTLE_ENABLED")
    assert settings.getint("CONCURRENT_REQUESTS") <= 2
    assert settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") <= 2
    assert 0 < settings.getint("DOWNLOAD_MAXSIZE") <= 16 * 1024 * 1024
    assert settings["FEED_EXPORT_ENCODING"] == "utf-8"
    assert spider.allowed_domains == ["www.rfi.fr"]
    assert spider.arguments == SpiderArguments(related_depth=2)


def test_rfi_settings_reach_the_config():
    spider = make_spider(
        {
            "RFI_BASE_URL": "http://127.0.0.1:8000/",
            "RFI_MAX_LISTING_PAGES": "5",
            "RFI_FOLLOW_TAGS": "true",
            "RFI_START_POINTS": "rss,sitemap",
            "RFI_CONTACT": "me@example.org",
        }
    )
    assert spider.config == RfiConfig(
        base_url="http://127.0.0.1:8000",
        max_listing_pages=5,
        follow_tags=True,
        contact="me@example.org",
        start_points=("rss", "sitemap"),
    )
    assert spider.allowed_domains == ["127.0.0.1"]


def test_user_agent_names_the_contact_unless_set():
    crawler = get_crawler(RfiCnSpider, project(RFI_CONTACT="me@example.org"))
    assert "rfi-crawler/" in crawler.settings["USER_AGENT"]
    assert "me@example.org" in crawler.settings["USER_AGENT"]
    crawler = get_crawler(RfiCnSpider, project(USER_AGENT="mine/1.0"))
    assert crawler.settings["USER_AGENT"] == "mine/1.0"


def test_spider_arguments_are_parsed():
    spider = make_spider(
        urls="https://www.rfi.fr/cn/政治/20251130-x/, /cn/中国/20251129-y?a=1",
        related_depth="1",
        since="2025-11-01",
        until="2025-11-30",
    )
    assert spider.arguments.urls == (
        "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-x",
        "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20251129-y",
    )
    assert spider.arguments.related_depth == 1
    assert spider.arguments.window == DateWindow(date(2025, 11, 1), date(2025, 11, 30))
    assert spider.frontier.max_depth == 1


def test_replica_urls_are_accepted_when_crawling_a_replica():
    spider = make_spider(
        {"RFI_BASE_URL": "http://127.0.0.1:8000"}, urls="http://127.0.0.1:8000/cn/政治/20251130-x"
    )
    assert spider.arguments.urls == ("https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-x",)


@pytest.mark.parametrize(
    ("settings", "kwargs", "message"),
    [
        ({"RFI_BASE_URL": "www.rfi.fr"}, {}, "RFI_BASE_URL"),
        ({"RFI_BASE_URL": "https://www.rfi.fr/cn/"}, {}, "RFI_BASE_URL"),
        ({"RFI_MAX_LISTING_PAGES": "0"}, {}, "RFI_MAX_LISTING_PAGES"),
        ({"RFI_START_POINTS": "homepage,archive"}, {}, "RFI_START_POINTS"),
        ({}, {"related_depth": "-1"}, "related_depth"),
        ({}, {"related_depth": "two"}, "related_depth"),
        ({}, {"since": "30/11/2025"}, "since"),
        ({}, {"since": "2025-12-01", "until": "2025-11-01"}, "after"),
        ({}, {"urls": "https://www.rfi.fr/cn/政治/"}, "not RFI Chinese content URLs"),
        ({}, {"urls": "https://example.org/cn/政治/20251130-x"}, "not RFI Chinese content URLs"),
    ],
)
def test_bad_values_fail_with_a_clear_message(settings, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_spider(settings, **kwargs)


@pytest.mark.parametrize(
    ("window", "url_day", "worth_it"),
    [
        (DateWindow(date(2025, 11, 10), date(2025, 11, 20)), date(2025, 11, 9), True),  # margin
        (DateWindow(date(2025, 11, 10), date(2025, 11, 20)), date(2025, 11, 8), False),
        (DateWindow(date(2025, 11, 10), date(2025, 11, 20)), date(2025, 11, 21), True),
        (DateWindow(date(2025, 11, 10), date(2025, 11, 20)), date(2025, 11, 22), False),
        (DateWindow(), date(2001, 1, 1), True),
        (DateWindow(since=date(2025, 1, 1)), None, True),
    ],
)
def test_url_dates_decide_what_to_download(window, url_day, worth_it):
    assert window.may_contain(url_day) is worth_it


def test_the_window_judges_the_utc_publication_date_inclusively():
    window = DateWindow(date(2025, 11, 10), date(2025, 11, 20))
    assert window.contains("2025-11-10T00:00:00+00:00")
    assert window.contains("2025-11-20T23:59:59+00:00")
    assert not window.contains("2025-11-21T00:00:00+00:00")
    assert not window.contains(None)
    assert DateWindow().contains(None)
