"""Gaps found by the review of issues 10 and 11: each test fails on the defect it names."""

from __future__ import annotations

import configparser
import http.server
import json
import re
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import pytest
from scrapy.core.downloader.middleware import DownloaderMiddlewareManager
from scrapy.core.spidermw import SpiderMiddlewareManager
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response
from warcio.archiveiterator import ArchiveIterator

from rfi_crawler import signals as rfi_signals
from rfi_crawler import urls
from rfi_crawler.archive import ArchiveError, read_archive
from rfi_crawler.config import RfiConfig
from rfi_crawler.dataset.cli import main as dataset_main
from rfi_crawler.guards import OriginGuardMiddleware, Rejected
from rfi_crawler.middlewares import BlockBackoffMiddleware
from rfi_crawler.run import CrawlRun
from rfi_crawler.warc import WarcCaptureMiddleware, WarcLinkMiddleware
from tests.crawling import (
    PROJECT_ROOT,
    TEST_SETTINGS,
    built_crawler,
    plain_crawl,
    scrapy_crawl,
)
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite
from tests.test_archive_import import archive_text


# Issue 10 item 12, for links found in pages: the `urls` argument resolved its dot segments,
# but a related link `/cn/%2e%2e/%2e%2e/20251130-x` on a hostile page became the record URL
# `https://www.rfi.fr/cn/../../20251130-x` and was requested as `/20251130-x`.
@pytest.mark.parametrize(
    "href",
    [
        "/cn/%2e%2e/%2e%2e/20251130-x",
        "/cn/%2E%2E/中国/20251130-x",
        "/cn/../../20251130-x",
        "/cn/a/../20251130-x",
        "/cn/中国/./20251130-x",
        "https://www.rfi.fr/cn/%2e/中国/20251130-x",
    ],
)
def test_a_link_with_dot_segments_is_no_content_url(href):
    assert urls.canonical_content_url(href, "https://www.rfi.fr/cn/", None) is None
    assert urls.archive_item_url(href, "https://www.rfi.fr/cn/", None) is None


# Issue 10 item 13: "a truncated archive file is reported, not imported as a complete
# record". The existing test cut the file so short that the schema check failed anyway; a
# file cut mid-body still has a valid record's worth of text and must be refused for itself.
def test_an_archive_file_cut_mid_body_is_reported_as_cut(tmp_path):
    text = archive_text("<p>完整的一段</p><p>被截断的第二段</p>")
    path = tmp_path / "cut.md"
    path.write_text(text[: text.index("被截断") + 2] + "\n", encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"cut\.md:5: the HTML line is cut short"):
        read_archive(path)


# Issue 10 items 8 and 16: the units' hardening and the oneshot's start timeout were only in
# the files, untested.
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "User": "scrapyd",
}


def unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return parser["Service"]


def covered(path: str, writable: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in writable)


@pytest.mark.parametrize("name", ["rfi-scrapyd.service", "rfi-schedule.service"])
def test_the_units_are_hardened_and_write_only_their_folders(name):
    service = unit(name)
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{name}: {key}"
    writable = service["ReadWritePaths"].split()
    created = (DEPLOY / "install-service").read_text(encoding="utf-8")
    for path in writable:
        assert f"$root{path}" in created, f"{name}: {path} is not created by install-service"
    # Whatever the service writes lies inside its writable paths.
    if name == "rfi-scrapyd.service":
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(DEPLOY / "scrapyd.conf")
        dirs = [v for k, v in conf["scrapyd"].items() if k.endswith("_dir")]
        assert dirs and all(covered(d, writable) for d in dirs), dirs
    else:
        data_dir = re.search(r"RFI_DATA_DIR=(\S+)", service["ExecStart"]).group(1)
        assert covered(data_dir, writable)


def test_the_scheduler_oneshot_has_a_finite_start_timeout():
    service = unit("rfi-schedule.service")
    assert service["Type"] == "oneshot"
    timeout = re.fullmatch(r"(\d+)(s|min)?", service["TimeoutStartSec"])
    assert timeout, service["TimeoutStartSec"]  # not infinity, not 0 (which means none)
    seconds = int(timeout.group(1)) * (60 if timeout.group(2) == "min" else 1)
    assert 0 < seconds <= 3600


# Issue 10 item 4, "a store error must stop the run": the tests saw the finish reason and
# exit status 7, which the run's close sets anyway; a run that went on downloading every
# page after its store failed (dropping each record) passed them all.
def test_a_store_failure_mid_run_closes_the_crawl_once_with_state_error(tmp_path):
    crawler = built_crawler({"RFI_DATA_DIR": str(tmp_path)})
    closed = []

    class Engine:
        async def close_spider_async(self, reason: str) -> None:
            closed.append(reason)

    crawler.engine = Engine()
    run = crawler.get_extension(CrawlRun)
    run.spider_opened(crawler.spider)
    for _ in range(3):
        crawler.signals.send_catch_log(
            rfi_signals.store_failed, error=sqlite3.OperationalError("database is locked")
        )
    assert closed == ["state_error"]
    assert crawler.stats.get_value("rfi/failed/state_error") == 1
    run.close("state_error")


# Issue 9 / 11: docs/layout.md is "which module does what"; settings.py and fields.py were
# missing from it. Every module is named, by its path or after its folder's path in a row.
def test_the_layout_table_names_every_module():
    root = Path(__file__).resolve().parents[1]
    named: set[str] = set()
    for line in (root / "docs" / "layout.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        folder = None
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if "/" in name:
                named.add(name.rstrip("/"))
                folder = name.rstrip("/") if name.endswith("/") else name.rsplit("/", 1)[0]
            elif folder:
                named.add(f"{folder}/{name}")
    missing = [
        str(path.relative_to(root))
        for path in sorted((root / "rfi_crawler").rglob("*.py"))
        if path.name != "__init__.py"
        and not any(
            str(path.relative_to(root)) == n or str(path.relative_to(root)).startswith(n + "/")
            for n in named
        )
    ]
    assert missing == []


# Issue 9 item 4, "settings read once": the middlewares parsed every RFI_* setting again,
# each into its own RfiConfig; those the engine builds now share the run extension's.
def test_the_components_the_engine_builds_share_the_runs_config(tmp_path, monkeypatch):
    crawler = built_crawler(
        {
            "RFI_DATA_DIR": str(tmp_path),
            "RFI_WARC_DIR": str(tmp_path / "warc"),
            "RFI_BACKOFF_BASE": "7",
        }
    )
    run = crawler.get_extension(CrawlRun)
    reads = []
    original = RfiConfig.from_settings.__func__
    monkeypatch.setattr(
        RfiConfig,
        "from_settings",
        classmethod(lambda cls, settings: reads.append(1) or original(cls, settings)),
    )
    # As the engine builds them, after the extensions.
    downloader = DownloaderMiddlewareManager.from_crawler(crawler).middlewares
    spider_mws = SpiderMiddlewareManager.from_crawler(crawler).middlewares
    backoff = next(m for m in downloader if isinstance(m, BlockBackoffMiddleware))
    assert backoff.config is run.config and backoff.config.backoff_base == 7
    assert any(isinstance(m, WarcCaptureMiddleware) for m in downloader)
    assert next(m for m in downloader if isinstance(m, OriginGuardMiddleware)).origin == (
        urls.origin_of(run.config.base_url)
    )
    assert any(isinstance(m, WarcLinkMiddleware) for m in spider_mws)
    assert reads == []  # no component the engine built read the settings again


# Issue 11 §5, "-o into a folder that doesn't exist: create it, or say so in one line".
# Scrapy 2.19 creates a missing feed folder itself, so the e2e test of the missing folder
# passed without the preflight; the refusal (a file in the way) had no crawl-level test.
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "{blocked}/x.jsonl"], "-o {blocked}/x.jsonl: cannot create its folder"),
        (["-s", "RFI_DATA_DIR={blocked}/data"], "RFI_DATA_DIR='{blocked}/data' is not accepted"),
    ],
)
def test_an_uncreatable_folder_stops_scrapy_crawl_in_one_line(tmp_path, extra, message):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    site = ReplicaSite(articles=40, seed=3)
    with ReplicaServer(site) as server:
        settings = {**TEST_SETTINGS, "RFI_BASE_URL": server.base_url}
        done = scrapy_crawl(
            *(arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")),
            *(part.format(blocked=blocked) for part in extra),
        )
        assert sum(server.requested().values()) == 0
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("scrapy crawl rfi_cn:")]
    assert len(errors) == 1 and message.format(blocked=blocked) in errors[0], done.stderr
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr


# Issue 11 §7: "demo-data/ ignored by git" had no test.
def test_the_demo_folder_is_ignored_by_git():
    if not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("demo-data/dataset/rfi-demo-stats.png", "demo-data/data/state.sqlite3"):
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=PROJECT_ROOT, check=False)
        assert done.returncode == 0, path


# Issue 11 §3/§5: rfi-dataset outputs that cannot be written were a raw `[Errno …]` naming
# the hidden temporary file (`-o` under a file, `--plot` into /proc, `import-archive -o` a
# folder, `export-archive -o` a file); an undated dataset's plot printed a matplotlib warning.
def dataset_file(tmp_path: Path) -> Path:
    source = tmp_path / "run.jsonl"
    source.write_text(json.dumps({"url": "https://www.rfi.fr/cn/a/20251130-x"}) + "\n")
    return source


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["build", "{source}", "-o", "{blocked}/sub/out.jsonl"], "{blocked}/sub/out.jsonl: cannot"),
        (["build", "{source}", "-o", "{folder}"], "{folder}: is a folder"),
        (["stats", "{source}", "--plot", "{blocked}/x.png"], "{blocked}/x.png: cannot write"),
        (["import-archive", "{source}", "-o", "{folder}"], "{folder}: is a folder"),
        (["export-archive", "{source}", "-o", "{blocked}"], "{blocked}: is a file"),
    ],
)
def test_an_output_that_cannot_be_written_is_one_line_naming_it(tmp_path, capsys, command, message):
    names = {
        "source": dataset_file(tmp_path),
        "blocked": tmp_path / "a-file",
        "folder": tmp_path / "a-folder",
    }
    names["blocked"].write_text("")
    names["folder"].mkdir()
    assert dataset_main([part.format(**names) for part in command]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"rfi-dataset: {message.format(**names)}"), err
    assert "Errno" not in err[-1] and ".tmp" not in err[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder", "run.jsonl"]


def test_the_plot_of_an_undated_dataset_warns_of_nothing(tmp_path, capsys):
    # Warnings are errors in this suite: matplotlib's "No artists with labels" fails it.
    assert (
        dataset_main(["stats", str(dataset_file(tmp_path)), "--plot", str(tmp_path / "p.png")]) == 0
    )
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


# Issue 11 §3, "one line": the refusal came after Scrapy's twelve-line start-up banner.
def test_a_refused_crawl_prints_its_one_line_and_nothing_else(tmp_path):
    done = scrapy_crawl(
        "-a",
        "sinse=2025-11-01",
        "-s",
        f"RFI_DATA_DIR={tmp_path}",
        "-s",
        "RFI_BASE_URL=http://127.0.0.1:9",
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "scrapy crawl rfi_cn: unknown spider argument sinse: did you mean since?"
    ]
    assert done.stdout == ""


class _Quiet(http.server.BaseHTTPRequestHandler):
    """A handler that logs nothing (the test's output is the crawl's)."""

    def log_message(self, *args: object) -> None:
        pass


# Issue 10 item 9 for robots.txt: the origin guard let robots.txt's redirects through, so a
# hostile site made the crawl fetch any URL (another port here; a cloud metadata address
# elsewhere) and, with RFI_WARC_DIR, archive the answer. Refused, robots.txt counts as
# unreachable: complete disallow, and the run ends `unreachable` naming the redirect.
class _Elsewhere(_Quiet):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"User-agent: *\nAllow: /\n")


@contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A server of ``handler`` on a free loopback port (yielded), stopped afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_a_robots_txt_redirect_to_another_origin_is_not_followed(tmp_path):
    _Elsewhere.hits = []
    with serving(_Elsewhere) as elsewhere:
        target = f"http://127.0.0.1:{elsewhere}/robots.txt"

        class Site(_Quiet):
            def do_GET(self) -> None:
                if self.path == "/robots.txt":
                    self.send_response(302)
                    self.send_header("Location", target)
                else:
                    self.send_response(404)
                self.end_headers()

        with serving(Site) as site:
            # The test settings: no politeness delays, which only slow a local site.
            done = plain_crawl(f"http://127.0.0.1:{site}", tmp_path, "-a", "urls=/cn/a/20251130-x")
    assert _Elsewhere.hits == []
    assert done.returncode == 6, done.stderr[-2000:]
    assert "1 offsite_redirect" in done.stderr and "Traceback" not in done.stderr


# Found by the wave's attack on the crawl: a page's meta refresh made a request for another
# port of the crawl's host (Scrapy's allowed_domains judges hosts alone), and with
# RFI_WARC_DIR its answer was archived. The guard judges every request's origin now.
def test_a_meta_refresh_to_another_origin_is_not_followed(tmp_path):
    _Elsewhere.hits = []
    with serving(_Elsewhere) as elsewhere:
        target = f"http://127.0.0.1:{elsewhere}/admin/secret?x=1"

        class Site(_Quiet):
            def do_GET(self) -> None:
                if not self.path.startswith("/cn/"):
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                # Another port of this host; another host (never looked up).
                away = target if self.path.startswith("/cn/a/") else "http://evil.invalid/cn/x"
                refresh = f'<meta http-equiv="refresh" content="0; url={away}">'
                self.wfile.write(f"<html><head>{refresh}</head><body></body></html>".encode())

        with serving(Site) as site:
            done = plain_crawl(
                f"http://127.0.0.1:{site}",
                tmp_path,
                *("-s", f"RFI_WARC_DIR={tmp_path / 'warc'}"),
                *("-a", "urls=/cn/a/20251130-x,/cn/b/20251130-y"),
            )
    assert _Elsewhere.hits == []
    assert "failed/offsite_redirect 2" in done.stderr and "Traceback" not in done.stderr
    targets = []
    for path in (tmp_path / "warc").rglob("*.warc.gz"):
        with path.open("rb") as stream:
            targets += [
                r.rec_headers.get_header("WARC-Target-URI") or "" for r in ArchiveIterator(stream)
            ]
    assert any("/cn/a/20251130-x" in t for t in targets)  # the page itself is kept
    assert not any(f":{elsewhere}/" in t for t in targets)


def test_a_robots_txt_redirect_within_the_origin_passes_the_guard():
    guard = OriginGuardMiddleware(RfiConfig(base_url="http://127.0.0.1:8000"))
    robots = Request("http://127.0.0.1:8000/robots.txt", meta={"dont_obey_robotstxt": True})
    moved = Response(robots.url, status=301, headers={"Location": "/robots-2.txt"})
    assert guard.process_response(robots, moved) is moved
    away = Response(robots.url, status=301, headers={"Location": "http://127.0.0.1:8001/r"})
    with pytest.raises(Rejected, match="another origin"):
        guard.process_response(robots, away)
    # A Location that is no URL is no origin either: refused as offsite, not a ValueError.
    broken = Response(robots.url, status=301, headers={"Location": "http://[::1"})
    with pytest.raises(Rejected, match="another origin") as refused:
        guard.process_response(robots, broken)
    assert refused.value.reason == "offsite_redirect"


# Issue 11 §7 (what a user notices): with RFI_WARC_DIR unset, every crawl began with two
# "Disabled … RFI_WARC_DIR is not set" WARNING lines; Scrapy logs a NotConfigured's message
# as a WARNING, so an optional component that is simply off raises it bare.
def test_warc_capture_switched_off_warns_of_nothing(tmp_path):
    crawler = built_crawler({"RFI_DATA_DIR": str(tmp_path)})
    for component in (WarcCaptureMiddleware, WarcLinkMiddleware):
        with pytest.raises(NotConfigured) as off:
            component.from_crawler(crawler)
        assert off.value.args == ()
