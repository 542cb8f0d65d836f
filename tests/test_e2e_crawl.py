"""End-to-end: real ``rfi_cn`` crawls, run in this process, against the local replica site."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, timedelta

import pytest

from tests.crawling import crawl_items
from tests.replica.server import ReplicaServer
from tests.replica.site import ORIGIN, ReplicaSite, canonical

pytestmark = pytest.mark.inprocess  # crawls in this process: tests/conftest.py
TODAY = date(2026, 11, 20)
NOT_CONTENT_PREFIXES = ("/cn/关键词/", "/cn/作者/", "/tw/", "/fr/", "/cn/直播", "/cn/我们是谁")


@pytest.fixture
def site() -> ReplicaSite:
    return ReplicaSite(articles=60, seed=7, today=TODAY)


@pytest.fixture
def server(site: ReplicaSite):
    with ReplicaServer(site) as server:
        yield server


@pytest.fixture(scope="module")
def default_crawl(tmp_path_factory):
    """One default crawl, shared by the tests that only read what it did.

    The sitemap answers late, so X is first met two related hops away (home → B → X)
    and only later as a start point: its related links must still be followed.
    """
    site = ReplicaSite(articles=60, seed=7, today=TODAY)
    site.delays["/sitemaps/cn/news.xml"] = 2.0
    with ReplicaServer(site) as server:
        result = crawl_items(server.base_url, tmp_path_factory.mktemp("default"))
        return site, result, server.requested()


def by_url(records: list[dict]) -> dict[str, dict]:
    return {record["url"]: record for record in records}


def assert_clean_run(result) -> None:
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log, result.log[-3000:]
    assert "Warning:" not in result.log, result.log[-3000:]
    urls = [record["url"] for record in result.records]
    assert len(urls) == len(set(urls)), "a record was exported twice"
    assert len({r["id"] for r in result.records}) == len(urls), "two records share an id"


def test_default_crawl_exports_exactly_the_expected_articles(default_crawl):
    site, result, _ = default_crawl
    assert_clean_run(result)

    expected = site.expected_depths(related_depth=2)
    records = by_url(result.records)
    assert set(records) == {canonical(path) for path in expected}

    by_index = site.articles_by_index()
    for index in (site.b, site.x, site.y, site.z, site.chain[0], site.chain[1]):
        assert by_index[index].url in records
    for index in (
        site.chain[2],
        site.chain[3],
        site.tag_only,
        site.disallowed,
        site.disallowed_only_link,
    ):
        assert by_index[index].url not in records
    assert result.stats["rfi/related/depth_improved"] >= 1
    outcomes = {
        k.removeprefix("rfi/outcome/"): v
        for k, v in result.stats.items()
        if k.startswith("rfi/outcome/") and k != "rfi/outcome/met"
    }
    assert sum(outcomes.values()) == result.stats["rfi/outcome/met"]
    assert outcomes == {"exported": len(records), "skipped/robots": 1}

    for article in site.articles:
        record = records.get(article.url)
        if record is None:
            continue
        want = site.expected_record(article)
        got = {field: record[field] for field in want}
        assert got == want, article.path
        text = "\x1f".join([record["title"], record["lead"] or "", record["body"]])
        assert record["content_hash"] == hashlib.sha256(text.encode()).hexdigest()
        crawl = record["crawl"]
        assert crawl["via"] in {"homepage", "section", "rss", "sitemap", "related"}
        assert expected[article.path] <= crawl["depth"] <= 2
        assert (crawl["depth"] == 0) == (crawl["via"] != "related")
        assert crawl["fetched_at"].endswith("+00:00")
        if crawl["via"] == "related":
            assert crawl["referer"] in records


def test_default_crawl_requests_each_article_once_and_nothing_else(default_crawl):
    site, result, requested = default_crawl
    assert_clean_run(result)

    article_paths = set(site.by_path)
    repeated = {path: n for path, n in requested.items() if path in article_paths and n > 1}
    assert repeated == {}
    disallowed = site.articles_by_index()[site.disallowed].path
    assert requested[disallowed] == 0
    assert result.stats["rfi/failed/robots"] == 1
    for path in requested:
        assert not path.startswith(NOT_CONTENT_PREFIXES), path
        assert (
            path.endswith("/")
            or path in article_paths
            or path in ("/robots.txt", "/cn/rss", "/sitemaps/cn/news.xml")
        ), path
    # Sections of the real navigation: 23; two of them answer 404 and 403.
    assert result.stats["rfi/start_point/failed"] == 2
    assert result.stats["rfi/failed/http_404"] == 1
    assert result.stats["rfi/failed/http_403"] == 1
    # Every section page up to the page limit, and none past it.
    assert site.section_pages("国际") == 4
    assert requested["/cn/国际/3/"] == 1
    assert requested["/cn/国际/4/"] == 0
    assert result.stats["rfi/listing/pages_beyond_limit"] >= 1


def test_related_depth_zero_exports_only_start_points(site, server, tmp_path):
    result = crawl_items(server.base_url, tmp_path, args={"related_depth": "0"})
    assert_clean_run(result)
    expected = site.expected_depths(related_depth=0)
    assert {r["url"] for r in result.records} == {canonical(p) for p in expected}
    assert {r["crawl"]["depth"] for r in result.records} == {0}


def test_follow_tags_reaches_articles_listed_only_on_keyword_hubs(site, server, tmp_path):
    result = crawl_items(server.base_url, tmp_path, settings={"RFI_FOLLOW_TAGS": "1"})
    assert_clean_run(result)
    expected = site.expected_depths(related_depth=2, follow_tags=True)
    records = by_url(result.records)
    assert set(records) == {canonical(p) for p in expected}
    tag_only = records[site.articles_by_index()[site.tag_only].url]
    assert tag_only["crawl"]["via"] == "tag"
    assert tag_only["crawl"]["referer"].startswith(ORIGIN + "/cn/%E5%85%B3%E9%94%AE%E8%AF%8D/")


def test_urls_argument_crawls_exactly_those_and_their_related(site, server, tmp_path):
    first, second = site.articles[20], site.articles[31]
    given = f"{first.url},{second.path}/?utm=x"  # absolute, and site-relative raw with noise
    result = crawl_items(server.base_url, tmp_path, args={"urls": given, "related_depth": "1"})
    assert_clean_run(result)
    by_index = site.articles_by_index()
    want = {first.url, second.url}
    for article in (first, second):
        want |= {by_index[i].url for i in article.related if i != site.disallowed}
    records = by_url(result.records)
    assert set(records) == want
    assert records[first.url]["crawl"] == {
        **records[first.url]["crawl"],
        "via": "url",
        "depth": 0,
        "referer": None,
    }
    assert server.requested()["/cn/"] == 0


def test_date_window_exports_and_downloads_only_what_it_needs(site, server, tmp_path):
    since, until = TODAY - timedelta(days=4), TODAY - timedelta(days=2)
    result = crawl_items(
        server.base_url, tmp_path, args={"since": since.isoformat(), "until": until.isoformat()}
    )
    assert_clean_run(result)
    expected = site.expected_depths(related_depth=2)
    in_window = {
        canonical(a.path)
        for a in site.articles
        if a.path in expected and since <= a.published.date() <= until
    }
    assert {r["url"] for r in result.records} == in_window
    assert in_window  # the window is not empty on this site
    requested = server.requested()
    for article in site.articles:
        url_day = date(
            int(article.path.split("/")[-1][:4]),
            int(article.path.split("/")[-1][4:6]),
            int(article.path.split("/")[-1][6:8]),
        )
        if not since - timedelta(days=1) <= url_day <= until + timedelta(days=1):
            assert requested[article.path] == 0, article.path
    assert result.stats["rfi/skipped/outside_window"] > 0


def test_listing_page_limit_is_a_setting(site, server, tmp_path):
    result = crawl_items(
        server.base_url,
        tmp_path,
        settings={"RFI_MAX_LISTING_PAGES": "1"},
        args={"related_depth": "0"},
    )
    assert_clean_run(result)
    expected = site.expected_depths(related_depth=0, max_listing_pages=1)
    assert {r["url"] for r in result.records} == {canonical(p) for p in expected}
    assert server.requested()["/cn/中国/2/"] == 0


def test_start_points_are_a_setting(site, server, tmp_path):
    result = crawl_items(server.base_url, tmp_path, settings={"RFI_START_POINTS": "rss,sitemap"})
    assert_clean_run(result)
    assert server.requested()["/cn/"] == 0
    assert Counter(r["crawl"]["via"] for r in result.records)["homepage"] == 0
    assert result.records
