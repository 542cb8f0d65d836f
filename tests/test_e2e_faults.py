"""End-to-end: a replica full of faults, a site that blocks, a layout that drifts.
Every content URL met is accounted for; every good article is exported whole."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections import Counter
from datetime import date

import pytest

from tests.crawling import PROJECT_ROOT, collect, crawl_command, crawl_env, exported, run_crawl
from tests.replica.faults import ARTICLE_FAULTS
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite, canonical

TODAY = date(2026, 11, 20)
FAULT_SETTINGS = {
    "DOWNLOAD_TIMEOUT": "2",
    "DOWNLOAD_MAXSIZE": str(2 * 1024 * 1024),
    "RETRY_TIMES": "1",
}


def outcomes(stats: dict) -> Counter:
    return Counter(
        {
            k.removeprefix("rfi/outcome/"): v
            for k, v in stats.items()
            if k.startswith("rfi/outcome/") and k != "rfi/outcome/met"
        }
    )


def faulty_site() -> ReplicaSite:
    site = ReplicaSite(articles=80, seed=13, today=TODAY)
    special = {site.disallowed, site.b, site.x, site.y, site.z, *site.chain}
    starts = list(dict.fromkeys(a.index for a in site.start_articles()))
    victims = [i for i in starts if i not in special and i not in (0, 1, 2)]
    by_index = site.articles_by_index()
    for fault, index in zip(ARTICLE_FAULTS, victims, strict=False):
        site.faults[by_index[index].path] = fault
    assert len(site.faults) == len(ARTICLE_FAULTS)
    site.endless_pager = "中国"
    return site


def test_every_fault_is_survived_and_every_url_accounted_for(tmp_path):
    site = faulty_site()
    with ReplicaServer(site) as server:
        result = run_crawl(server.base_url, tmp_path, settings=FAULT_SETTINGS)
        requested = server.requested()
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log, result.log[-3000:]

    expected = {canonical(p) for p in site.expected_depths()}
    records = exported(tmp_path / "data")
    assert {r["url"] for r in records} == expected
    for article in site.articles:  # the recovered ones are whole, not half-filled
        if article.url in expected and article.path in site.faults:
            record = next(r for r in records if r["url"] == article.url)
            want = site.expected_record(article)
            assert {k: record[k] for k in want} == want, site.faults[article.path]

    met = site.expected_depths(met=True)
    want = Counter({"exported": len(expected)})
    for path in met:
        fault = site.faults.get(path)
        if fault and ARTICLE_FAULTS[fault] != "exported":
            want[ARTICLE_FAULTS[fault]] += 1
    want["skipped/robots"] += site.articles_by_index()[site.disallowed].path in met
    assert outcomes(result.stats) == want
    assert sum(want.values()) == result.stats["rfi/outcome/met"] == len(met)

    # The pager that never ends is read up to the limit and no further.
    assert requested["/cn/中国/3/"] == 1 and requested["/cn/中国/4/"] == 0
    assert result.stats["rfi/backoff/http_429"] == 1
    assert result.stats["rfi/encoding/relabelled_utf-8"] == 1
    assert result.stats["rfi/encoding/relabelled_gb18030"] == 1


@pytest.mark.parametrize(
    ("feed_fault", "sitemap_fault"),
    [("entity_bomb", "malformed"), ("huge", "entity_bomb"), ("malformed", "huge")],
)
def test_broken_feeds_and_sitemaps_are_bounded_and_counted(tmp_path, feed_fault, sitemap_fault):
    site = ReplicaSite(articles=60, seed=4, today=TODAY)
    site.feed_faults = {"/cn/rss": feed_fault, "/sitemaps/cn/news.xml": sitemap_fault}
    with ReplicaServer(site) as server:
        result = run_crawl(server.base_url, tmp_path, settings=FAULT_SETTINGS)
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log
    expected = site.expected_depths(sources=("homepage", "sections"))
    assert {r["url"] for r in exported(tmp_path / "data")} == {canonical(p) for p in expected}
    feed_outcome = {"entity_bomb": "empty_feed", "huge": "too_large", "malformed": "empty_feed"}
    sitemap_outcome = {
        "malformed": "malformed_sitemap",
        "entity_bomb": "malformed_sitemap",
        "huge": "too_large",
    }
    assert result.stats[f"rfi/failed/{feed_outcome[feed_fault]}"] == 1
    assert result.stats[f"rfi/failed/{sitemap_outcome[sitemap_fault]}"] == 1


def test_a_blocking_site_stops_the_crawl_loudly_and_keeps_what_was_fetched(tmp_path):
    site = ReplicaSite(articles=60, seed=6, today=TODAY)
    site.block_after = 40
    # Only the homepage as start point. With every start point, the 23 sections and their
    # pagers (listings go first: priority 10) are over 40 requests: whether any article
    # came before the block depended on how fast the listings answered, and on a busy
    # machine none did ("no records"). Here requests 3 to 40 are articles, always.
    with ReplicaServer(site) as server:
        result = run_crawl(
            server.base_url,
            tmp_path,
            settings={
                "RFI_BLOCK_THRESHOLD": "8",
                "CONCURRENT_REQUESTS": "2",
                "RFI_START_POINTS": "homepage",
            },
        )
        before_block = server.requests[:40]
        after_block = len(server.requests) - 40
    assert sum(path in site.by_path for path in before_block) == 38
    assert result.returncode == 3, result.log[-3000:]
    assert result.stats["finish_reason"] == "blocked"
    host = server.base_url.removeprefix("http://")
    assert result.log.count(f"{host} is blocking this crawler") == 1  # the site crawled
    assert "run from another network" in result.log
    # Backed off, not hammered: a handful of requests after the block began, not hundreds.
    assert after_block <= 8 + 2 + 2
    records = exported(tmp_path / "data")
    assert records, "what was fetched before the block is kept"
    assert {r["url"] for r in records} <= {canonical(p) for p in site.expected_depths()}
    counts = outcomes(result.stats)
    assert counts["exported"] == len(records)
    assert counts["cancelled"] > 0
    assert sum(counts.values()) == result.stats["rfi/outcome/met"]


def test_layout_drift_is_loud_and_fails_the_run(tmp_path):
    site = ReplicaSite(articles=60, seed=8, today=TODAY)
    site.drift = True  # the article body moves to a class the extractor does not know
    with ReplicaServer(site) as server:
        result = run_crawl(server.base_url, tmp_path)
    assert result.returncode == 4, result.log[-3000:]
    assert result.stats["finish_reason"] == "layout_drift"
    error = next(line for line in result.log.splitlines() if "layout drift:" in line)
    assert "ERROR" in error and "body" in error and "https://www.rfi.fr/cn/" in error
    assert result.stats["rfi/coverage/body"] == 0
    assert result.stats["rfi/coverage/title"] == 1
    manifest = json.loads(next((tmp_path / "data" / "output").glob("*.manifest.json")).read_text())
    assert manifest["finish_reason"] == "layout_drift"
    assert manifest["field_coverage"]["body"] == 0 and manifest["field_coverage"]["title"] == 1
    assert "field coverage of" in result.log and "body 0%" in result.log


def test_a_crawl_that_reaches_nothing_fails_fast_and_loudly(tmp_path):
    """Every DNS lookup fails, or every connection is refused: exit 6 within 15 s, one
    ERROR line naming what failed, a manifest and no empty run file. Real politeness
    settings (AutoThrottle's start delay included), no internet needed."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connections are refused
    targets = {"refused": f"http://127.0.0.1:{port}", "dns": "http://rfi-crawler-test.invalid"}
    polite = {"AUTOTHROTTLE_ENABLED": "1", "DOWNLOAD_DELAY": "1", "CONCURRENT_REQUESTS": "2"}
    started = time.monotonic()
    crawls = {
        name: subprocess.Popen(
            crawl_command(base_url, tmp_path / name, settings=polite),
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        for name, base_url in targets.items()
    }
    for name, crawl in crawls.items():
        log = crawl.communicate(timeout=120)[1]
        elapsed = time.monotonic() - started
        result = collect(tmp_path / name, log, crawl.returncode)
        assert result.returncode == 6, log[-3000:]
        assert elapsed < 15, f"{name}: {elapsed:.1f}s"
        assert result.stats["finish_reason"] == "unreachable"
        assert "Traceback" not in log, log[-3000:]
        errors = [line for line in log.splitlines() if "unreachable: " in line]
        assert len(errors) == 1 and "ERROR" in errors[0], log[-3000:]
        assert result.stats["log_count/ERROR"] == 1, log[-3000:]  # that line, no other
        assert {"refused": "RFI_BASE_URL's host and port", "dns": "DNS"}[name] in errors[0]
        output = tmp_path / name / "data" / "output"
        manifest = json.loads(next(output.glob("*.manifest.json")).read_text())
        assert manifest["finish_reason"] == "unreachable" and manifest["output"] is None
        assert list(output.glob("*.jsonl*")) == []


def test_sigterm_during_a_long_backoff_pause_ends_the_crawl_promptly(tmp_path):
    """A 60 s pause (the site answers 403) is cut short by SIGTERM: the crawl ends within
    seconds, and no retry is logged after the signal."""
    site = ReplicaSite(articles=40, seed=3, today=TODAY)
    site.block_after = 1  # robots.txt answers; everything after it is 403
    with ReplicaServer(site) as server:
        settings = {"RFI_BACKOFF_BASE": "60", "RFI_BACKOFF_MAX": "60"}
        crawl = subprocess.Popen(
            crawl_command(server.base_url, tmp_path, settings=settings),
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        lines = []
        for line in crawl.stderr:  # progress, not time: wait for the pause to begin
            lines.append(line)
            if "pausing every request 60.0s" in line:
                break
        signalled = time.monotonic()
        crawl.send_signal(signal.SIGTERM)
        rest = crawl.communicate(timeout=60)[1]
        took = time.monotonic() - signalled
    assert took < 15, f"{took:.1f}s after SIGTERM"
    after_signal = rest.split("Received SIGTERM", 1)[1]
    assert "retry" not in after_signal, rest[-3000:]
    assert "Traceback" not in rest, rest[-3000:]
    assert crawl.returncode == 0, rest[-3000:]  # shutdown: a deliberate stop
    stats = collect(tmp_path, "", crawl.returncode).stats
    assert stats["finish_reason"] == "shutdown"
    assert "rfi/backoff/retries" not in stats  # no pause ended: nothing was retried
