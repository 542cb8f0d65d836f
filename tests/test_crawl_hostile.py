"""Hostile settings, arguments and output targets: each is refused in one line before any
request (exit 2), or settled with a count, never a traceback or a failed run exiting 0."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import subprocess
from collections import Counter
from datetime import date
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import pytest
from scrapy.extensions.feedexport import FileFeedStorage
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from rfi_crawler.arguments import SpiderArguments
from rfi_crawler.commands.crawl import EXIT_STATUS, exit_status
from rfi_crawler.config import ConfigError, RfiConfig
from rfi_crawler.export.run_file import manifest_path
from rfi_crawler.feed_storage import GuardedFile, GuardedFileFeedStorage
from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.preflight import prepare_feed_folders
from rfi_crawler.run import CrawlRun, utc_now
from tests.crawling import (
    PROJECT_ROOT,
    built_crawler,
    crawl_command,
    crawl_env,
    plain_crawl,
    run_crawl,
)
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

# ~240 Chinese characters: 2,160 characters once percent-encoded, over Scrapy's 2,083.
LONG_PATH = "/cn/中国/20251201-" + "新闻" * 120
LONG_URL = "https://www.rfi.fr" + quote(LONG_PATH)


def refused_setting(name: str, value: str) -> str:
    with pytest.raises(ConfigError) as caught:
        RfiConfig.from_settings(Settings({name: value}))
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r} is not accepted: expected ")
    assert "\n" not in message
    return message


def refused_argument(**kwargs: str) -> str:
    with pytest.raises(ConfigError) as caught:
        SpiderArguments.from_kwargs(kwargs, None)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- text that made a parser raise its own error (a traceback, exit 1) ----------------------


@pytest.mark.parametrize("value", ["http://[::1", "https://[www.rfi.fr"])
def test_an_origin_urlsplit_cannot_read_is_refused_in_one_line(value):
    assert "an origin such as https://www.rfi.fr" in refused_setting("RFI_BASE_URL", value)


def test_an_ipv6_origin_is_still_read():
    config = RfiConfig.from_settings(Settings({"RFI_BASE_URL": "http://[::1]:8000"}))
    assert config.base_url == "http://[::1]:8000"


@pytest.mark.parametrize("name", ["RFI_DATA_DIR", "RFI_OUTPUT_DIR", "RFI_WARC_DIR"])
@pytest.mark.parametrize("value", ["~no-such-user-rfi/x", "/tmp/a\x00b"])
def test_a_path_that_cannot_be_resolved_is_refused_in_one_line(name, value):
    assert "a folder path" in refused_setting(name, value)


# -- numbers: ASCII digits only (int() and float() read ٣ as 3, and 1_0 as 10) -------------


@pytest.mark.parametrize("value", ["٣", "３", "1_0", "9" * 5000])
def test_an_integer_setting_takes_ascii_digits_only(value):
    assert "a whole number from 1 to 10000" in refused_setting("RFI_MAX_LISTING_PAGES", value)


@pytest.mark.parametrize("value", ["٣", "1_0", "٠.5"])
def test_a_duration_takes_ascii_digits_only(value):
    assert "a number of seconds" in refused_setting("RFI_BACKOFF_BASE", value)


@pytest.mark.parametrize("value", ["٣d", "1h,٦h"])
def test_a_schedule_takes_ascii_digits_only(value):
    assert "ages such as 1h,6h,1d,7d" in refused_setting("RFI_RECHECK_SCHEDULE", value)


@pytest.mark.parametrize("value", ["٣", "３", "1_0", " ٣ "])
def test_related_depth_takes_ascii_digits_only(value):
    message = refused_argument(related_depth=value)
    assert message.startswith(f"related_depth={value!r} is not accepted: expected a whole")


def test_numbers_in_ascii_digits_are_still_read():
    config = RfiConfig.from_settings(
        Settings(
            {
                "RFI_MAX_LISTING_PAGES": " 7 ",
                "RFI_BACKOFF_BASE": "1.5",
                "RFI_BACKOFF_MAX": "1e2",
                "RFI_RECHECK_SCHEDULE": "30m,2d",
            }
        )
    )
    assert (config.max_listing_pages, config.backoff_base, config.backoff_max) == (7, 1.5, 100)
    assert config.recheck_schedule == "30m,2d"
    assert SpiderArguments.from_kwargs({"related_depth": " 3 "}, None).related_depth == 3


# -- dates: the years 1900-2999, so every margin added to them can be computed -------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"since": "0001-01-01"},
        {"until": "9999-12-31"},
        {"since": "1899-12-31"},
        {"until": "3000-01-01"},
    ],
)
def test_a_window_date_outside_the_years_is_refused(kwargs):
    ((name, value),) = kwargs.items()
    assert refused_argument(**kwargs).startswith(
        f"{name}={value!r} is not accepted: expected a date YYYY-MM-DD of the years 1900 to 2999"
    )


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1899-12-31T23:59:59+00:00"],
)
def test_a_recheck_now_outside_the_years_is_refused(value):
    assert "of the years 1900 to 2999" in refused_setting("RFI_RECHECK_NOW", value)


class NoCandidates:
    """A store without articles to re-check, noting the day it was asked from."""

    asked: str = ""

    def recheck_candidates(self, since: str) -> list:
        self.asked = since
        return []


@pytest.mark.parametrize(
    ("now", "utc_year", "asked"),
    [
        ("1900-01-01T00:00:00+14:00", "1899", "1352-06-03"),
        ("2999-12-31T23:59:59-12:00", "3000", "2452-06-02"),
    ],
)
def test_the_extreme_dates_accepted_compute_with_the_longest_schedule(now, utc_year, asked):
    longest = "99999d"  # recheck.AGE: five digits at most; RFI_REFRESH_DAYS goes to 36500
    config = RfiConfig.from_settings(
        Settings({"RFI_RECHECK_NOW": now, "RFI_RECHECK_SCHEDULE": longest})
    )
    store = NoCandidates()
    policy = RefreshPolicy(store, config.schedule, 100, False, config.recheck_now)
    assert policy.plan() == []
    assert store.asked == asked  # twice 99999 days and a day before now
    assert utc_now(config.recheck_now).startswith(utc_year)
    window = SpiderArguments.from_kwargs(
        {"since": "1900-01-01", "until": "2999-12-31"}, None
    ).window
    assert window.may_contain(date(1899, 12, 31)) and not window.may_contain(date(1899, 12, 30))
    assert window.may_contain(date(3000, 1, 1)) and not window.may_contain(date(3000, 1, 2))


# -- the crawl command: one line, exit 2, no request --------------------------------------

REFUSED_AT_START = [
    (["-s", "RFI_BASE_URL=http://[::1"], "RFI_BASE_URL='http://[::1' is not accepted"),
    # A byte that is no UTF-8 (the run is named after _job; the store cannot hold it).
    (["-a", os.fsdecode(b"_job=j\xff")], "-a _job='j\\udcff' is not accepted"),
    (["-a", "related_depth=٣"], "related_depth='٣' is not accepted"),
    (["-a", "since=0001-01-01"], "since='0001-01-01' is not accepted"),
    (["-a", "until=9999-12-31"], "until='9999-12-31' is not accepted"),
    (["-s", "RFI_RECHECK_NOW=0001-01-01T00:00:00+14:00"], "RFI_RECHECK_NOW="),
    (["-s", "RFI_RECHECK_NOW=9999-12-31T23:59:59-12:00"], "RFI_RECHECK_NOW="),
    (["-O", "/tmp:jsonl"], "-o /tmp: /tmp is a folder"),
    (["-a", f"urls={LONG_PATH}"], "urls= is not accepted: longer than URLLENGTH_LIMIT=2083"),
    (["-s", "URLLENGTH_LIMIT=-1"], "URLLENGTH_LIMIT='-1' is not accepted"),
]


def test_feed_targets_that_cannot_be_written_stop_scrapy_crawl_in_one_line(tmp_path):
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "dangling.jsonl").symlink_to("/nonexistent-folder/x.jsonl")
    cases = {
        f"{tmp_path}/dangling.jsonl:jsonl": "cannot write",
        f"{tmp_path}/afile/%(name)s.jsonl:jsonl": f"cannot create {tmp_path}/afile",
        "/proc/self/rfi-feed.jsonl:jsonl": "cannot write",
    }
    site = ReplicaSite(articles=40, seed=3)
    with ReplicaServer(site) as server:
        for target, refusal in cases.items():
            done = plain_crawl(server.base_url, tmp_path / "data", "-O", target)
            assert done.returncode == 2, (target, done.stderr[-2000:])
            (line,) = [row for row in done.stderr.splitlines() if "rfi_cn: " in row]
            assert refusal in line and "Traceback" not in done.stderr, line
        assert sum(server.requested().values()) == 0
    assert not (tmp_path / "dangling.jsonl").exists()  # nothing created through the link


def test_a_feed_through_a_symbolic_link_is_written_where_the_link_points(tmp_path):
    (tmp_path / "feeds").mkdir()
    link = tmp_path / "latest.jsonl"
    link.symlink_to(tmp_path / "feeds" / "run1.jsonl")  # its file not there yet
    settings = Settings({"FEEDS": {f"{link}": {"format": "jsonlines"}}})
    prepare_feed_folders(settings)
    assert link.is_symlink() and not (tmp_path / "feeds" / "run1.jsonl").exists()


def test_feed_targets_are_checked_where_scrapy_writes_them(tmp_path):
    # A file URI is decoded (%20 is a space), and a pipe (/dev/stdout piped) is Scrapy's.
    folder = tmp_path / "with space"
    prepare_feed_folders(Settings({"FEEDS": {f"file://{tmp_path}/with%20space/x.jsonl": {}}}))
    assert folder.is_dir() and not (tmp_path / "with%20space").exists()
    reader, writer = os.pipe()
    try:
        prepare_feed_folders(Settings({"FEEDS": {f"/dev/fd/{writer}": {}}}))
    finally:
        os.close(reader)
        os.close(writer)


def test_hostile_values_stop_scrapy_crawl_in_one_line_before_any_request(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    with ReplicaServer(site) as server:
        for extra, line in REFUSED_AT_START:
            done = plain_crawl(server.base_url, tmp_path / "data", *extra)
            assert done.returncode == 2, (extra, done.stderr[-2000:])
            errors = [row for row in done.stderr.splitlines() if "rfi_cn: " in row]
            assert len(errors) == 1, done.stderr[-2000:]
            assert errors[0].startswith(f"scrapy crawl rfi_cn: {line}"), errors
            assert "Traceback" not in done.stderr
        assert sum(server.requested().values()) == 0


# -- sitemap indexes below the news sitemap: two levels, the rest counted -----------------

SITEMAP_INDEX = (
    '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "{}</sitemapindex>"
)
URLSET = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>'


def sitemap_index(*paths: str) -> str:
    return SITEMAP_INDEX.format(
        "".join(f"<sitemap><loc>https://www.rfi.fr{path}</loc></sitemap>" for path in paths)
    )


class ChainServer(ReplicaServer):
    """news.xml is an index of c1.xml, each cN.xml an index of c(N+1).xml (up to c10), of
    news.xml itself, and a sitemap of one article."""

    def route(self, path: str) -> tuple[int, str, str]:
        xml = "application/xml; charset=UTF-8"
        if path == "/sitemaps/cn/news.xml":
            return 200, xml, sitemap_index("/sitemaps/cn/c1.xml")
        if found := re.fullmatch(r"/sitemaps/cn/c(\d+)\.xml", path):
            n = int(found[1])
            nested = [f"/sitemaps/cn/c{n + 1}.xml"] if n < 10 else []
            return (
                200,
                xml,
                sitemap_index(*nested, "/sitemaps/cn/news.xml", f"/sitemaps/cn/a{n}.xml"),
            )
        if found := re.fullmatch(r"/sitemaps/cn/a(\d+)\.xml", path):
            article = self.site.articles[int(found[1])]
            return 200, xml, URLSET.format(f"<url><loc>{article.url}</loc></url>")
        return super().route(path)


def sitemap_crawl(
    server: ReplicaServer, tmp_path: Path, **settings: str
) -> tuple[Any, Counter[str]]:
    """A crawl of ``server``'s news sitemap alone (no related links), and what it asked."""
    with server:
        result = run_crawl(
            server.base_url,
            tmp_path,
            args={"related_depth": "0"},
            settings={"RFI_START_POINTS": "sitemap", **settings},
        )
        return result, server.requested()


def test_a_chain_of_sitemap_indexes_is_followed_two_levels_and_the_rest_counted(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    result, requested = sitemap_crawl(ChainServer(site), tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    sitemaps = sorted(path for path in requested if path.startswith("/sitemaps/"))
    # c1 (an index one level down) and what it lists (two levels: c2, a1) are read
    assert sitemaps == [
        "/sitemaps/cn/a1.xml",
        "/sitemaps/cn/c1.xml",
        "/sitemaps/cn/c2.xml",
        "/sitemaps/cn/news.xml",
    ]
    assert [record["url"] for record in result.records] == [site.articles[1].url]
    # c2 lists c3, news.xml and a2.xml three levels down: counted, in one line
    assert result.stats["rfi/listing/sitemap_too_deep"] == 3
    warned = [line for line in result.log.splitlines() if "are not followed" in line]
    assert len(warned) == 1 and "/sitemaps/cn/c2.xml lists 3 sitemaps" in warned[0]


class FanoutServer(ReplicaServer):
    """news.xml is an index of 20 indexes (f0…f19), each listing 20 sitemaps of one
    article: 420 sitemaps, all within two levels."""

    def route(self, path: str) -> tuple[int, str, str]:
        xml = "application/xml; charset=UTF-8"
        if path == "/sitemaps/cn/news.xml":
            return 200, xml, sitemap_index(*(f"/sitemaps/cn/f{n}.xml" for n in range(20)))
        if found := re.fullmatch(r"/sitemaps/cn/f(\d+)\.xml", path):
            n = int(found[1])
            return 200, xml, sitemap_index(*(f"/sitemaps/cn/a{n * 20 + k}.xml" for k in range(20)))
        if found := re.fullmatch(r"/sitemaps/cn/a(\d+)\.xml", path):
            article = self.site.articles[int(found[1]) % len(self.site.articles)]
            return 200, xml, URLSET.format(f"<url><loc>{article.url}</loc></url>")
        return super().route(path)


def test_a_run_reads_at_most_rfi_max_sitemaps_below_the_news_sitemap(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    result, requested = sitemap_crawl(FanoutServer(site), tmp_path, RFI_MAX_SITEMAPS="30")
    assert result.returncode == 0, result.log[-3000:]
    below_news = [p for p in requested if p.startswith("/sitemaps/") and "news" not in p]
    assert len(below_news) == 30
    assert result.stats["rfi/listing/sitemaps_beyond_limit"] == 420 - 30
    warned = [line for line in result.log.splitlines() if "are not followed" in line]
    assert warned and all("at most 30 sitemaps a run" in line for line in warned)


class LongSitemapIndex(ReplicaServer):
    """news.xml is an index of one sitemap whose URL is over URLLENGTH_LIMIT."""

    def route(self, path: str) -> tuple[int, str, str]:
        if path == "/sitemaps/cn/news.xml":
            long_one = "/sitemaps/cn/" + "x" * 2100 + ".xml"
            return 200, "application/xml; charset=UTF-8", sitemap_index(long_one)
        return super().route(path)


def test_a_listing_url_over_the_limit_is_counted_and_said_not_dropped_quietly(tmp_path):
    result, requested = sitemap_crawl(LongSitemapIndex(ReplicaSite(articles=40, seed=3)), tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    assert not any(len(path) > 2000 for path in requested)
    assert result.stats["rfi/listing/url_too_long"] == 1
    assert "WARNING: listing not requested (url_too_long: 2" in result.log


def test_a_real_shaped_sitemap_index_reaches_every_monthly_sitemap(tmp_path):
    """news.xml → index.xml → contents_YYYYMM.xml, as the site's sister editions have it."""
    site = ReplicaSite(articles=40, seed=3, years=(2024, 2025), past_per_year=6)

    class IndexedNews(ReplicaServer):
        def route(self, path: str) -> tuple[int, str, str]:
            if path == "/sitemaps/cn/news.xml":
                xml = "application/xml; charset=UTF-8"
                return 200, xml, sitemap_index("/sitemaps/cn/index.xml")
            return super().route(path)

    with IndexedNews(site) as server:
        result = run_crawl(
            server.base_url,
            tmp_path,
            args={"related_depth": "0", "since": "2025-01-01", "until": "2025-01-31"},
            settings={"RFI_START_POINTS": "sitemap"},
        )
        requested = server.requested()
    assert result.returncode == 0, result.log[-3000:]
    index = server.route("/sitemaps/cn/index.xml")[2]
    months = set(re.findall(r"/sitemaps/cn/contents_\d{6}\.xml", index))
    assert len(months) > 1 and months <= set(requested)
    assert "rfi/listing/sitemap_too_deep" not in result.stats


# -- a content URL longer than URLLENGTH_LIMIT: settled as failed/url_too_long ------------


def test_a_urls_page_longer_than_the_limit_is_refused_at_start():
    with pytest.raises(ConfigError) as caught:
        SpiderArguments.from_kwargs({"urls": LONG_PATH}, "https://www.rfi.fr", url_limit=2083)
    message = str(caught.value)
    assert message.startswith("urls= is not accepted: longer than URLLENGTH_LIMIT=2083")
    assert "\n" not in message and len(message) < 400
    for limit in (0, 3000):  # none, or one it fits
        arguments = SpiderArguments.from_kwargs({"urls": LONG_PATH}, None, url_limit=limit)
        assert arguments.urls == (LONG_URL,)


class LongUrlSitemap(ReplicaServer):
    """The news sitemap lists one article, and one whose URL is over the limit."""

    def route(self, path: str) -> tuple[int, str, str]:
        if path == "/sitemaps/cn/news.xml":
            listed = [self.site.articles[1].url, LONG_URL]
            body = URLSET.format("".join(f"<url><loc>{url}</loc></url>" for url in listed))
            return 200, "application/xml; charset=UTF-8", body
        if path == LONG_PATH:
            return super().route(self.site.articles[2].path)
        return super().route(path)


def test_a_sitemap_url_longer_than_the_limit_is_settled_as_url_too_long(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    result, requested = sitemap_crawl(LongUrlSitemap(site), tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    assert LONG_PATH not in requested
    assert [record["url"] for record in result.records] == [site.articles[1].url]
    assert result.stats["rfi/failed/url_too_long"] == 1
    assert result.stats["rfi/outcome/failed/url_too_long"] == 1
    assert "rfi/outcome/cancelled" not in result.stats
    assert result.stats["rfi/outcome/met"] == 2
    warned = [line for line in result.log.splitlines() if "article not requested" in line]
    assert len(warned) == 1 and "URLLENGTH_LIMIT 2083" in warned[0]


# -- -o/-O: a folder given as the file is refused; a feed not stored fails the run --------


class FullDiskStorage(FileFeedStorage):
    """A local feed whose storing fails as on a full disk (ENOSPC), without filling one."""

    def store(self, file: IO[bytes]) -> None:
        file.close()
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("form", ["{}", "file://{}"])
def test_a_feed_that_is_a_folder_is_refused_in_one_line(tmp_path, form):
    uri = form.format(tmp_path)
    with pytest.raises(ConfigError) as caught:
        prepare_feed_folders(Settings({"FEEDS": {uri: {"format": "jsonlines"}}}))
    assert str(caught.value) == (
        f"-o {uri}: {tmp_path} is a folder; expected a file in a folder you may write"
    )


@pytest.mark.parametrize(
    ("reason", "status"),
    [("finished", 5), ("shutdown", 5), ("blocked", 3), ("state_error", 7), ("other", 1)],
)
def test_a_feed_not_stored_makes_a_successful_run_exit_output_error(reason, status):
    stats = {"finish_reason": reason, "feedexport/failed_count/FileFeedStorage": 1}
    assert exit_status(stats) == status
    assert exit_status({"finish_reason": reason}) == EXIT_STATUS.get(reason, 1)


def test_a_crawl_whose_feed_is_not_stored_exits_5_in_one_last_line(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    with ReplicaServer(site) as server:
        article = site.articles[2]
        command = crawl_command(
            server.base_url,
            tmp_path,
            args={"urls": article.path, "related_depth": "0"},
            settings={"FEED_STORAGES": json.dumps({"fullfs": f"{__name__}.FullDiskStorage"})},
        )
        command[command.index("-O") + 1] = f"fullfs://{tmp_path}/feed.jsonl:jsonl"
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=crawl_env(), capture_output=True, text=True, timeout=300
        )
    assert done.returncode == 5, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1] == (
        "scrapy crawl rfi_cn: 1 -o/-O feed not stored (the ERROR above says why); the run"
        " file in RFI_OUTPUT_DIR is written apart"
    )
    assert "Error storing jsonl feed (1 items)" in done.stderr
    # Scrapy's closing stats (stats.json is dumped before the feed is stored)
    assert "'feedexport/failed_count/FullDiskStorage': 1," in done.stderr
    assert "'finish_reason': 'finished'," in done.stderr
    (manifest,) = (tmp_path / "data" / "output").glob("rfi_cn-*.manifest.json")
    assert json.loads(manifest.read_text(encoding="utf-8"))["records"] == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_feed_whose_writes_fail_mid_run_is_said_once_and_exits_5(tmp_path):
    """/dev/full fails every write as a full disk does (ENOSPC), once the file's buffer
    fills: mid-run. One ERROR, no traceback a record, the run's other feed whole, exit 5."""
    site = ReplicaSite(articles=40, seed=3)
    with ReplicaServer(site) as server:
        paths = [article.path for article in site.articles[:12]]
        command = crawl_command(
            server.base_url, tmp_path, args={"urls": ",".join(paths), "related_depth": "0"}
        )
        command[command.index("-O") + 1] = "/dev/full:jsonl"
        command += ["-O", f"{tmp_path / 'second.jsonl'}:jsonl"]
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=crawl_env(), capture_output=True, text=True, timeout=300
        )
    assert done.returncode == 5, done.stderr[-3000:]
    said = [line for line in done.stderr.splitlines() if "cannot write" in line]
    assert len(said) == 1, said
    assert said[0].endswith(
        "-o/-O file /dev/full: cannot write ([Errno 28] No space left on device): the file is"
        " cut here and takes no further record; this run will exit 5. The run file in"
        " RFI_OUTPUT_DIR is written apart"
    )
    assert "Traceback" not in done.stderr.split("Error storing jsonl feed")[0]
    assert "Error caught on signal handler" not in done.stderr
    assert re.search(r"Error storing jsonl feed \(\d+ items\) in: /dev/full", done.stderr)
    assert "OSError: /dev/full: cut at its first failed write ([Errno 28]" in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "scrapy crawl rfi_cn: 1 -o/-O feed not stored (the ERROR above says why); the run"
        " file in RFI_OUTPUT_DIR is written apart"
    )
    # Every record reached the other feed (Scrapy stops offering an item to the feeds after
    # the first whose write raised).
    second = (tmp_path / "second.jsonl").read_text(encoding="utf-8").splitlines()
    (run_file,) = (tmp_path / "data" / "output").glob("rfi_cn-*.jsonl")
    assert len(second) == len(run_file.read_text(encoding="utf-8").splitlines()) >= 10
    assert "'rfi/feed/write_failed': 1," in done.stderr


class _FailingFile:
    """A file on a disk that fills after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        self.room, self.written, self.closed = room, b"", False

    def write(self, data: bytes) -> int:
        if len(self.written) + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_guarded_feed_file_takes_no_write_after_its_first_failure(tmp_path, caplog):
    crawler = get_crawler(settings_dict={})
    crawler.stats.open_spider()
    storage = GuardedFileFeedStorage.from_crawler(crawler, str(tmp_path / "feed.jsonl"))
    file = GuardedFile(_FailingFile(room=10), storage)
    assert file.write(b"12345\n") == 6
    with caplog.at_level(logging.ERROR):
        assert file.write(b"a cut record\n") == 13  # failed: said, not raised
        assert file.write(b"9\n") == 2  # there was room, but after a cut line: dropped
        file.flush()
    assert file._file.written == b"12345\n"
    assert len(caplog.records) == 1 and "cannot write" in caplog.text
    assert crawler.stats.get_value("rfi/feed/write_failed") == 1
    with pytest.raises(OSError, match=r"cut at its first failed write .* 1 later writes not"):
        storage.store(file)
    assert file._file.closed
    # A feed whose writes all passed is stored (closed) as Scrapy's own storage does.
    whole = storage.open(None)
    whole.write(b"{}\n")
    storage.store(whole)
    assert (tmp_path / "feed.jsonl").read_bytes() == b"{}\n"


# -- a long job id (Scrapyd's -a _job=…) names the run's files ----------------------------


def test_long_job_ids_give_bounded_distinct_run_ids(tmp_path):
    crawler = built_crawler({"RFI_DATA_DIR": str(tmp_path)})
    run = crawler.get_extension(CrawlRun)
    names = set()
    for job in ("j" * 300, "j" * 299 + "k", "新" * 300, "新" * 299 + "闻"):
        run.name_job(job)
        assert run.job == job
        assert len(run.run_id.encode()) <= 16 + 1 + 64, run.run_id
        assert len(manifest_path(run.output_path).name.encode()) < 255
        names.add(run.run_id)
    assert len(names) == 4
    run.name_job("backfill-20250101-20250131-0a1b2c")  # a short id is kept as it was
    assert run.run_id.endswith("Z-backfill-20250101-20250131-0a1b2c")


def test_a_run_of_a_300_character_job_crawls_and_records_the_whole_id(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    job = "job-" + "0123456789" * 30
    with ReplicaServer(site) as server:
        article = site.articles[2]
        result = run_crawl(
            server.base_url,
            tmp_path,
            args={"urls": article.path, "related_depth": "0", "_job": job},
        )
    assert result.returncode == 0, result.log[-3000:]
    assert [record["url"] for record in result.records] == [article.url]
    (manifest,) = (tmp_path / "data" / "output").glob("rfi_cn-*.manifest.json")
    recorded = json.loads(manifest.read_text(encoding="utf-8"))
    assert recorded["job"] == job and recorded["finish_reason"] == "finished"
    assert recorded["records"] == 1 and "Traceback" not in result.log
