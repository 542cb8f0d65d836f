"""Settings and spider arguments reach the components, and bad values fail clearly."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from rfi_crawler.arguments import DateWindow, SpiderArguments
from rfi_crawler.config import ConfigError, RfiConfig, default_data_dir
from rfi_crawler.drift import DriftExtension
from rfi_crawler.guards import OriginGuardMiddleware
from rfi_crawler.middlewares import BlockBackoffMiddleware
from rfi_crawler.pipelines import ExportPipeline
from rfi_crawler.recheck import format_schedule
from rfi_crawler.refresh import RefreshExtension
from rfi_crawler.run import CrawlRun
from rfi_crawler.spiders.rfi_cn import RfiCnSpider
from rfi_crawler.warc import WarcCaptureMiddleware
from tests.crawling import PROJECT_ROOT, built_crawler
from tests.crawling import project_settings as project

README = PROJECT_ROOT / "README.md"


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
    # Scrapy starts this many tasks for each response's output; a page yields one record.
    assert settings.getint("CONCURRENT_ITEMS") == 16
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


# -- Every RFI_* setting reaches the component that uses it ------------------------------


def _components(tmp_path, settings):
    # Building opens nothing: the run opens at spider_opened, the run file at its first record.
    crawler = built_crawler({"RFI_DATA_DIR": str(tmp_path), **settings})
    export = ExportPipeline.from_crawler(crawler)
    return SimpleNamespace(
        settings={"RFI_DATA_DIR": str(tmp_path), **settings},
        crawler=crawler,
        spider=crawler.spider,
        run=crawler.get_extension(CrawlRun),
        refresh=crawler.get_extension(RefreshExtension),
        drift=crawler.get_extension(DriftExtension),
        backoff=BlockBackoffMiddleware.from_crawler(crawler),
        origin=OriginGuardMiddleware.from_crawler(crawler),
        export=export,
        writer=lambda: export._open_writer(),
    )


def _backfill(c):
    """The backfill extension of a crawler built with the same settings and archive=1."""
    from rfi_crawler.backfill_run import BackfillExtension

    crawler = built_crawler(c.settings, archive="1", since="2019-01-01")
    return BackfillExtension.from_crawler(crawler)  # the spider exists first in a real crawl


def _warc(c):
    try:
        return WarcCaptureMiddleware.from_crawler(c.crawler).files  # opens no file yet
    except NotConfigured:
        return None


def _sync_every(c):
    writer = c.writer()
    writer.close()
    return writer.sync_every


def _sync_seconds(c):
    writer = c.writer()
    writer.close()
    return writer.sync_seconds


# setting → (documented default as the README writes it, the default as the component
# holds it, a changed value, the changed value as the component holds it, probe).
WIRING = {
    "RFI_BASE_URL": (
        "https://www.rfi.fr",
        "https://www.rfi.fr",
        "http://127.0.0.1:8001",
        "http://127.0.0.1:8001",
        lambda c: c.origin.origin,
    ),
    "RFI_MAX_LISTING_PAGES": ("3", 3, "7", 7, lambda c: c.spider.config.max_listing_pages),
    "RFI_MAX_SITEMAPS": ("1000", 1000, "7", 7, lambda c: c.spider.config.max_sitemaps),
    "RFI_FOLLOW_TAGS": ("False", False, "1", True, lambda c: c.spider.config.follow_tags),
    "RFI_CONTACT": (
        '""',
        "contact unset",
        "me@example.org",
        "me@example.org",
        lambda c: c.crawler.settings["USER_AGENT"].rsplit("; ", 1)[1].rstrip(")"),
    ),
    "RFI_START_POINTS": (
        "homepage,sections,rss,sitemap",
        ("homepage", "sections", "rss", "sitemap"),
        "rss",
        ("rss",),
        lambda c: c.spider.config.start_points,
    ),
    "RFI_DATA_DIR": (
        ".scrapy/rfi-crawler",
        "<default data dir>",  # built without RFI_DATA_DIR
        "<tmp>/elsewhere",
        "<tmp>/elsewhere",
        lambda c: c.run.lock_path.parent.parent,
    ),
    "RFI_STATE_URI": (
        "sqlite:///<RFI_DATA_DIR>/state.sqlite3",
        "sqlite:///<tmp>/state.sqlite3",
        "sqlite:///<tmp>/other.sqlite3",
        "sqlite:///<tmp>/other.sqlite3",
        lambda c: c.export.store.uri,
    ),
    "RFI_OUTPUT_DIR": (
        "<RFI_DATA_DIR>/output",
        "<tmp>/output",
        "<tmp>/out",
        "<tmp>/out",
        lambda c: c.run.output_path.parent,
    ),
    "RFI_OUTPUT_COMPRESSION": (
        '""',
        ".jsonl",
        "gzip",
        ".jsonl.gz",
        lambda c: "." + c.run.output_path.name.split(".", 1)[1],
    ),
    "RFI_RECHECK_SCHEDULE": (
        "1h,6h,1d,3d,7d,30d",
        "1h,6h,1d,3d,7d,30d",
        "2h, 48h",
        "2h,2d",
        lambda c: format_schedule(c.refresh.schedule),
    ),
    "RFI_RECHECK_MAX_PER_RUN": ("100", 100, "7", 7, lambda c: c.refresh.budget),
    "RFI_RECHECK_NOW": (
        '""',
        None,
        "2026-11-20T11:00:00+01:00",
        "2026-11-20T10:00:00+00:00",  # the export's store times, in UTC
        lambda c: c.export._now() if c.refresh.fixed_now else None,
    ),
    # Deprecated: mapped onto the schedule.
    "RFI_REFRESH_DAYS": (
        '""',
        "1h,6h,1d,3d,7d,30d",
        "3",
        "1h,6h,1d,3d",
        lambda c: format_schedule(c.refresh.schedule),
    ),
    "RFI_REFRESH": ("False", False, "1", True, lambda c: c.refresh.refresh),
    "RFI_FSYNC_EVERY": ("25", 25, "2", 2, _sync_every),
    "RFI_FSYNC_SECONDS": ("5", 5.0, "0.5", 0.5, _sync_seconds),
    "RFI_STATE_TIMEOUT": ("60", 60.0, "2.5", 2.5, lambda c: c.export.store.timeout),
    "RFI_BACKOFF_BASE": ("5", 5.0, "0.25", 0.25, lambda c: c.backoff.config.backoff_base),
    "RFI_BACKOFF_MAX": ("300", 300.0, "30", 30.0, lambda c: c.backoff.config.backoff_max),
    "RFI_BACKOFF_RETRIES": ("2", 2, "5", 5, lambda c: c.backoff.config.backoff_retries),
    "RFI_BLOCK_THRESHOLD": ("20", 20, "4", 4, lambda c: c.backoff.config.block_threshold),
    "RFI_DRIFT_THRESHOLD": ("0.05", 0.05, "0.5", 0.5, lambda c: c.drift.coverage.threshold),
    "RFI_DRIFT_MIN_PAGES": ("20", 20, "3", 3, lambda c: c.drift.coverage.min_pages),
    "RFI_WARC_DIR": (
        '""',
        None,
        "<tmp>/warc",
        "<tmp>/warc",
        lambda c: None if _warc(c) is None else _warc(c).folder,
    ),
    "RFI_WARC_MAX_MB": (
        "1000",
        None,  # no capture without RFI_WARC_DIR: the size is read, and unused
        "7",
        7 * 1024 * 1024,
        lambda c: None if _warc(c) is None else _warc(c).max_bytes,
    ),
    "RFI_ARCHIVE_DAYS_IN_FLIGHT": ("4", 4, "9", 9, lambda c: _backfill(c).planner.max_in_flight),
}


class _ReadRecorder(Settings):
    """Settings that remember which ``RFI_*`` keys were read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, name, default=None):
        if isinstance(name, str) and name.startswith("RFI_"):
            self.read.add(name)
        return super().get(name, default)


def test_the_wiring_table_covers_every_setting_the_config_reads():
    recorder = _ReadRecorder()
    RfiConfig.from_settings(recorder)
    assert recorder.read == set(WIRING), "add the new setting to WIRING (and to the README)"


def _readme_defaults() -> dict[str, str]:
    rows = re.findall(r"^\| `(RFI_[A-Z_]+)` \|[^|]*\| ([^|]*) \|", README.read_text(), re.M)
    return {name: default for name, default in rows}


def _resolved(value, tmp_path):
    if value == "<default data dir>":
        return default_data_dir()
    if isinstance(value, str) and "<tmp>" in value:
        text = value.replace("<tmp>", str(tmp_path))
        return text if text.startswith("sqlite:") else Path(text)
    return value


@pytest.mark.parametrize("name", sorted(WIRING))
def test_every_setting_reaches_its_component_with_its_default(name, tmp_path):
    documented, default, _, _, probe = WIRING[name]
    assert documented in _readme_defaults()[name]
    settings = {"RFI_DATA_DIR": None} if name == "RFI_DATA_DIR" else {}
    assert probe(_components(tmp_path, settings)) == _resolved(default, tmp_path)


@pytest.mark.parametrize("name", sorted(WIRING))
def test_every_setting_reaches_its_component_when_changed(name, tmp_path):
    _, default, given, changed, probe = WIRING[name]
    assert changed != default
    # A setting that only acts with another one set gets that one too.
    needs = {"RFI_WARC_MAX_MB": {"RFI_WARC_DIR": str(tmp_path / "warc")}}.get(name, {})
    components = _components(tmp_path, {**needs, name: _resolved(given, tmp_path)})
    assert probe(components) == _resolved(changed, tmp_path)


def extensions_of_a_crawl(user_extensions: dict) -> set[type]:
    """The extensions a ``scrapy crawl -s EXTENSIONS=…`` would build: the spider adds the
    run's own to the user's (tests.crawling's crawlers come with them already)."""
    from scrapy.crawler import Crawler
    from scrapy.utils.conf import build_component_list
    from scrapy.utils.misc import load_object

    settings = Settings({k: v for k, v in project().items() if k != "EXTENSIONS"})
    settings.set("EXTENSIONS", user_extensions, priority="cmdline")
    crawler = Crawler(RfiCnSpider, settings)
    RfiCnSpider.from_crawler(crawler)
    return {
        load_object(c) for c in build_component_list(crawler.settings.getwithbase("EXTENSIONS"))
    }


def test_the_runs_extensions_join_the_users_and_one_set_to_none_stays_off():
    from rfi_crawler.gc_tuning import GcTuning
    from tests.stats_dump import StatsDump

    built = extensions_of_a_crawl({"tests.stats_dump.StatsDump": 0})
    assert {StatsDump, CrawlRun, DriftExtension, GcTuning} <= built
    off = extensions_of_a_crawl({"rfi_crawler.gc_tuning.GcTuning": None})
    assert GcTuning not in off
    assert {CrawlRun, DriftExtension, RefreshExtension} <= off
