"""WARC capture: settings wiring, the files standard tools read, digests, rotation, what a
crawl archives (robots.txt, redirects, error answers), links from records, kill -9."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator

from rfi_crawler.config import ConfigError, RfiConfig
from rfi_crawler.dataset.reextract import declared_origin
from rfi_crawler.spiders.rfi_cn import RfiCnSpider
from rfi_crawler.urls import path_of, quote_path
from rfi_crawler.warc import WarcCaptureMiddleware, WarcError, WarcFiles, WarcLinkMiddleware
from tests.crawling import PROJECT_ROOT, crawl_command, crawl_env, exported, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite, canonical
from tests.test_settings_wiring import project

WARCIO = [sys.executable, "-m", "warcio.cli"]  # the `warcio` command, in this environment


def read_records(path: Path) -> list[dict]:
    """Every record of a WARC file: type, headers, HTTP status and the stored payload."""
    records = []
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            http = record.http_headers
            records.append(
                {
                    "type": record.rec_type,
                    "id": record.rec_headers.get_header("WARC-Record-ID"),
                    "uri": record.rec_headers.get_header("WARC-Target-URI"),
                    "date": record.rec_headers.get_header("WARC-Date"),
                    "payload_digest": record.rec_headers.get_header("WARC-Payload-Digest"),
                    "concurrent_to": record.rec_headers.get_header("WARC-Concurrent-To"),
                    "status": (
                        int(http.get_statuscode())
                        if http and record.rec_type == "response"
                        else None
                    ),
                    "http": http,
                    "payload": record.raw_stream.read(),
                }
            )
    return records


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def gzip_members(data: bytes) -> tuple[list[bytes], bool]:
    """The complete gzip members of a file, and whether a cut-off member follows them."""
    members, rest = [], data
    while rest:
        inflater = zlib.decompressobj(zlib.MAX_WBITS + 16)
        try:
            member = inflater.decompress(rest)
        except zlib.error:
            return members, True
        if not inflater.eof:
            return members, True
        members.append(member)
        rest = inflater.unused_data
    return members, False


# -- settings ------------------------------------------------------------------------------


def test_capture_is_off_by_default(tmp_path):
    crawler = get_crawler(RfiCnSpider, project(RFI_DATA_DIR=str(tmp_path)))
    assert RfiConfig().warc_dir is None
    with pytest.raises(NotConfigured):
        WarcCaptureMiddleware.from_crawler(crawler)
    with pytest.raises(NotConfigured):
        WarcLinkMiddleware.from_crawler(crawler)


def test_settings_reach_the_middleware(tmp_path):
    settings = project(
        RFI_DATA_DIR=str(tmp_path), RFI_WARC_DIR=str(tmp_path / "w"), RFI_WARC_MAX_MB="7"
    )
    crawler = get_crawler(RfiCnSpider, settings)
    middleware = WarcCaptureMiddleware.from_crawler(crawler)
    assert middleware.files.folder == tmp_path / "w"
    assert middleware.files.max_bytes == 7 * 1024 * 1024
    assert middleware.files.max_bytes == 7 * 1024 * 1024
    assert isinstance(WarcLinkMiddleware.from_crawler(crawler), WarcLinkMiddleware)
    # Registered: nearest the downloader of every downloader middleware.
    order = crawler.settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    assert order["rfi_crawler.warc.WarcCaptureMiddleware"] > max(
        v for k, v in order.items() if v is not None and "WarcCapture" not in k
    )
    assert "rfi_crawler.warc.WarcLinkMiddleware" in crawler.settings.getwithbase(
        "SPIDER_MIDDLEWARES"
    )


def test_the_middleware_archives_fetched_responses_and_notes_their_record(tmp_path):
    settings = project(RFI_DATA_DIR=str(tmp_path), RFI_WARC_DIR=str(tmp_path / "w"))
    crawler = get_crawler(RfiCnSpider, settings)
    middleware = WarcCaptureMiddleware.from_crawler(crawler)
    request, response = exchange(1)
    assert middleware.process_response(request, response) is response
    cached_request, cached = exchange(3)
    cached.flags.append("cached")  # from HTTPCACHE: not fetched now, not archived again
    assert middleware.process_response(cached_request, cached) is cached
    middleware.files.close()
    (name,) = middleware.files.files
    responses = [r for r in read_records(tmp_path / "w" / name) if r["type"] == "response"]
    assert [r["uri"] for r in responses] == [request.url]
    assert request.meta["rfi_warc"] == {"file": name, "record_id": responses[0]["id"]}
    assert "rfi_warc" not in cached_request.meta
    assert crawler.stats.get_value("rfi/warc/responses") == 1
    assert crawler.stats.get_value("rfi/warc/cached_skipped") == 1


@pytest.mark.parametrize("value", ["0", "-5", "100001"])
def test_bad_max_size_fails_clearly(tmp_path, value):
    settings = get_crawler(settings_dict={"RFI_WARC_MAX_MB": value}).settings
    with pytest.raises(ConfigError, match="RFI_WARC_MAX_MB"):
        RfiConfig.from_settings(settings)


# -- files ---------------------------------------------------------------------------------


def exchange(n: int, body: bytes = b"<html><body>x</body></html>") -> tuple[Request, HtmlResponse]:
    request = Request(f"http://127.0.0.1:9/cn/page-{n}", headers={"User-Agent": "t"})
    response = HtmlResponse(
        url=request.url,
        body=body,
        headers={"Content-Type": "text/html; charset=UTF-8", "Transfer-Encoding": "chunked"},
        request=request,
        status=200 if n % 2 else 404,
    )
    return request, response


def test_records_read_back_with_matching_digests_and_rotate(tmp_path):
    files = WarcFiles(tmp_path, "rfi_cn", max_bytes=20_000, info={"software": "test"})
    bodies = [os.urandom(3_000) + f"<html>{n}</html>".encode() for n in range(20)]
    ids = [files.write_exchange(*exchange(n, body)) for n, body in enumerate(bodies)]
    files.close()

    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == files.files and len(names) >= 3  # rotated by size
    assert all(n.startswith("rfi_cn-") and n.endswith(".warc.gz") for n in names)
    records = [r for name in names for r in read_records(tmp_path / name)]
    for name in names:
        assert read_records(tmp_path / name)[0]["type"] == "warcinfo"
    responses = [r for r in records if r["type"] == "response"]
    requests = [r for r in records if r["type"] == "request"]
    assert [r["id"] for r in responses] == ids
    assert [r["payload"] for r in responses] == bodies  # bodies as received
    assert [r["status"] for r in responses] == [404, 200] * 10
    for record in responses:
        assert record["payload_digest"] == sha1_b32(record["payload"])
        # Twisted hands over dechunked bodies: the header is kept under another name.
        assert record["http"].get_header("Transfer-Encoding") is None
        assert record["http"].get_header("X-Archive-Orig-Transfer-Encoding") == "chunked"
    assert [r["concurrent_to"] for r in requests] == ids
    lines = [f"{r['http'].protocol} {r['http'].statusline}" for r in requests]
    assert lines == [f"GET /cn/page-{n} HTTP/1.1" for n in range(20)]
    assert all(r["http"].get_header("Host") == "127.0.0.1:9" for r in requests)
    # Every file is its own sequence of gzip members, one per record.
    for name in names:
        members, cut = gzip_members((tmp_path / name).read_bytes())
        assert not cut and all(m.startswith(b"WARC/1.1\r\n") for m in members)
    checked = subprocess.run(
        [*WARCIO, "check", *(str(tmp_path / n) for n in names)], capture_output=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_runs_never_collide(tmp_path):
    first, second = WarcFiles(tmp_path, "rfi_cn", 10**6), WarcFiles(tmp_path, "rfi_cn", 10**6)
    first.write_exchange(*exchange(1))
    second.write_exchange(*exchange(1))
    first.close()
    second.close()
    assert len(list(tmp_path.iterdir())) == 2


# -- a real crawl --------------------------------------------------------------------------


def test_a_crawl_archives_every_response_and_records_point_to_theirs(tmp_path):
    site = ReplicaSite(articles=60, seed=3)
    paths = sorted(site.by_path)
    starts = {a.path for a in site.start_articles()}
    redirected, gone = [p for p in paths if p in starts][:2]
    site.faults[redirected] = "redirect_chain"
    site.faults[gone] = "gone_404"
    warc_dir = tmp_path / "warc"
    with ReplicaServer(site) as server:
        result = run_crawl(
            server.base_url,
            tmp_path,
            settings={"RFI_WARC_DIR": str(warc_dir), "RFI_WARC_MAX_MB": "1"},
        )
        requested = sum(server.requested().values())
    assert result.returncode == 0, result.log[-3000:]

    files = sorted(warc_dir.iterdir())
    assert len(files) >= 3  # 1 MB each: rotated
    indexed = subprocess.run([*WARCIO, "index", *map(str, files)], capture_output=True)
    assert indexed.returncode == 0, indexed.stderr
    lines = [json.loads(line) for line in indexed.stdout.splitlines()]
    assert sum(line["warc-type"] == "response" for line in lines) == requested

    records = {f.name: read_records(f) for f in files}
    responses = [r for rs in records.values() for r in rs if r["type"] == "response"]
    assert len(responses) == requested == result.stats["rfi/warc/responses"]
    for path in files:  # each file names the crawl's origin, for re-extract's crawl.origin
        with path.open("rb") as handle:
            assert declared_origin(handle) == server.base_url
    for record in responses:
        assert record["payload_digest"] == sha1_b32(record["payload"])
    by_path = {}
    for record in responses:
        path = record["uri"].removeprefix(server.base_url)
        by_path.setdefault(path.split("?")[0], []).append(record)
    assert by_path["/robots.txt"][0]["status"] == 200
    assert b"Disallow" in by_path["/robots.txt"][0]["payload"]
    hops = [r["status"] for r in by_path[quote_path(redirected)]]
    assert hops[:3] == [301, 302, 302] and hops[-1] == 200  # each hop, then the page
    assert by_path[quote_path(gone)][0]["status"] == 404

    exported_records = exported(tmp_path / "data")
    assert exported_records and canonical(redirected) in {r["url"] for r in exported_records}
    ids = {r["id"]: (name, r) for name, rs in records.items() for r in rs}
    for record in exported_records:
        pointer = record["crawl"]["warc"]
        name, archived = ids[pointer["record_id"]]
        assert name == pointer["file"]
        assert archived["type"] == "response" and archived["status"] == 200
        assert quote_path(path_of(record["url"])) in archived["uri"]


def test_kill_9_leaves_readable_files(tmp_path):
    site = ReplicaSite(articles=400, seed=5, page_size=50)
    site.article_delay = 0.02  # long enough a crawl to be killed in the middle
    warc_dir = tmp_path / "warc"
    with ReplicaServer(site) as server:
        command = crawl_command(
            server.base_url,
            tmp_path,
            settings={
                "RFI_WARC_DIR": str(warc_dir),
                "RFI_WARC_MAX_MB": "2",
                "RFI_MAX_LISTING_PAGES": "20",
            },
        )
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 240
            # Progress, not time: kill once 3 MB are written (the second file is open).
            while sum(f.stat().st_size for f in warc_dir.glob("*.warc.gz")) < 3_000_000:
                assert process.poll() is None, "the crawl ended before it could be killed"
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    files = sorted(warc_dir.glob("*.warc.gz"))
    assert len(files) >= 2
    responses = 0
    for path in files:
        members, cut = gzip_members(path.read_bytes())
        assert not cut or path == files[-1]  # at most the last record of the last file
        assert all(m.startswith(b"WARC/1.1\r\n") for m in members)
        if not cut:
            indexed = subprocess.run([*WARCIO, "index", str(path)], capture_output=True)
            assert indexed.returncode == 0, indexed.stderr
        records = read_records_complete(path, len(members))
        responses += sum(r["type"] == "response" for r in records)
        for record in records:
            if record["type"] == "response":
                assert record["payload_digest"] == sha1_b32(record["payload"])
    assert responses > 5


def read_records_complete(path: Path, count: int) -> list[dict]:
    """The first ``count`` records (those whose gzip members are whole)."""
    members, _ = gzip_members(path.read_bytes())
    whole = b"".join(_gzip(m) for m in members[:count])
    copy = path.with_suffix(".whole")
    copy.write_bytes(whole)
    return read_records(copy)


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


def test_an_unwritable_folder_stops_the_crawl_clearly(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the WARC folder should be")
    with pytest.raises(WarcError, match="cannot create"):
        WarcFiles(blocker / "warc", "rfi_cn", 10**6).write_exchange(*exchange(1))

    site = ReplicaSite(articles=40, seed=2)
    with ReplicaServer(site) as server:
        result = run_crawl(
            server.base_url, tmp_path / "crawl", settings={"RFI_WARC_DIR": str(blocker / "w")}
        )
    assert result.returncode == 1
    assert result.stats["finish_reason"] == "warc_error"
    assert result.stats["rfi/warc/failed"] == 1
    assert "cannot create" in result.log and "stopping the crawl" in result.log
    assert "Traceback" not in result.log
