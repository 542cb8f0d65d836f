"""WARC capture: every response the crawler receives, with its request, in WARC 1.1 files.

Switched on by ``RFI_WARC_DIR``. ``WarcCaptureMiddleware`` sits nearest the downloader
(after every built-in downloader middleware), so it sees each response exactly as the
download handler produced it: robots.txt, redirects before they are followed, 4xx/5xx
answers before they are retried, bodies still compressed as sent. ``WarcLinkMiddleware``
then stamps each exported record with the WARC record of its page (``crawl.warc``).

Crash safety: each record is its own gzip member, written in one unbuffered ``write``
before the response reaches the spider, and fsynced on the run files' cadence
(``RFI_FSYNC_EVERY`` / ``RFI_FSYNC_SECONDS``) and on rotation and close. A ``kill -9``
leaves files that read to their last complete record; a power cut loses at most what
was written since the last fsync. Files rotate once they reach ``RFI_WARC_MAX_MB``.
"""

from __future__ import annotations

import io
import logging
import os
import platform
import time
import uuid
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from rfi_crawler import __version__
from rfi_crawler.config import RfiConfig, crawl_config

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

#: Where an archived response's record is noted for ``WarcLinkMiddleware``.
META_KEY = "rfi_warc"
# zlib level 3: a 540 KB page costs ~3 ms and 88 KB (level 9, warcio's own: ~24 ms, 75 KB).
GZIP_LEVEL = 3
# Dechunked by Twisted before we see the body: kept under pywb's name for rewritten headers.
REWRITTEN_HEADERS = {"transfer-encoding": "X-Archive-Orig-Transfer-Encoding"}


class WarcError(OSError):
    """A WARC file could not be opened or written."""


def _gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


def _header_lines(headers: Any) -> list[tuple[str, str]]:
    lines = []
    for name, values in headers.items():
        text = name.decode("latin-1")
        text = REWRITTEN_HEADERS.get(text.lower(), text)
        lines += [(text, value.decode("latin-1")) for value in values]
    return lines


def http_request_headers(request: Request) -> StatusAndHeaders:
    """The request as Scrapy sent it (reconstructed: Twisted adds Host and Connection)."""
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = _header_lines(request.headers)
    if not any(name.lower() == "host" for name, _ in lines):
        lines.insert(0, ("Host", parts.netloc))
    return StatusAndHeaders(f"{request.method} {target} HTTP/1.1", lines, is_http_request=True)


def http_response_headers(response: Response) -> StatusAndHeaders:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    protocol = getattr(response, "protocol", None) or "HTTP/1.1"
    return StatusAndHeaders(
        f"{response.status} {reason}", _header_lines(response.headers), protocol=protocol
    )


class WarcFiles:
    """Gzipped WARC 1.1 files in one folder: ``<spider>-<UTC start>-<random>-<serial>``,
    each opened exclusively (never overwritten) and started with a ``warcinfo`` record."""

    def __init__(
        self,
        folder: Path,
        prefix: str,
        max_bytes: int,
        sync_every: int = 25,
        sync_seconds: float = 5.0,
        info: dict[str, str] | None = None,
    ) -> None:
        self.folder = folder
        safe = "".join(c for c in prefix if c.isascii() and (c.isalnum() or c in "-_")) or "crawl"
        self.prefix = f"{safe}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.max_bytes = max_bytes
        self.sync_every = sync_every
        self.sync_seconds = sync_seconds
        self.info = info or {}
        self.builder = WARCWriter(None, gzip=False, warc_version="1.1")
        self.serial = 0
        self.handle: io.FileIO | None = None
        self.name = ""
        self.size = 0
        self.unsynced = 0
        self.synced_at = time.monotonic()
        self.files: list[str] = []
        self.records = 0

    def write_exchange(self, request: Request, response: Response) -> str:
        """Archive one response and its request; the response's WARC-Record-ID."""
        peer = getattr(response, "ip_address", None)
        fields = {"WARC-IP-Address": str(peer)} if peer is not None else {}
        resp = self.builder.create_warc_record(
            response.url,
            "response",
            payload=io.BytesIO(response.body),
            length=len(response.body),
            http_headers=http_response_headers(response),
            warc_headers_dict=fields,
        )
        req = self.builder.create_warc_record(
            response.url,
            "request",
            payload=io.BytesIO(request.body),
            length=len(request.body),
            http_headers=http_request_headers(request),
        )
        record_id = resp.rec_headers.get_header("WARC-Record-ID")
        req.rec_headers.replace_header("WARC-Date", resp.rec_headers.get_header("WARC-Date"))
        req.rec_headers.add_header("WARC-Concurrent-To", record_id)
        self._write([resp, req])
        return record_id

    def _serialise(self, record: Any) -> bytes:
        buffer = io.BytesIO()
        WARCWriter(buffer, gzip=False, warc_version="1.1").write_record(record)  # uncompressed
        return _gzip_member(buffer.getvalue())

    def _write(self, records: list[Any]) -> None:
        if self.handle is None or self.size >= self.max_bytes:
            self._rotate()
        assert self.handle is not None
        data = b"".join(self._serialise(record) for record in records)
        try:
            view = memoryview(data)
            while view:  # unbuffered: in the OS once this returns
                written = self.handle.write(view)
                if not written:
                    raise OSError("the file accepts no more bytes")
                view = view[written:]
        except OSError as exc:
            raise WarcError(f"cannot write {self.folder / self.name}: {exc}") from exc
        self.size += len(data)
        self.records += len(records)
        self.unsynced += 1
        if (
            self.unsynced >= self.sync_every
            or time.monotonic() - self.synced_at >= self.sync_seconds
        ):
            self.sync()

    def _rotate(self) -> None:
        self.close()
        self.serial += 1
        self.name = f"{self.prefix}-{self.serial:05d}.warc.gz"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.folder / self.name, "xb", buffering=0)  # noqa: SIM115
        except OSError as exc:
            raise WarcError(f"cannot create {self.folder / self.name}: {exc}") from exc
        self.files.append(self.name)
        self.size = 0
        info = self.builder.create_warcinfo_record(self.name, self.info)
        self._write([info])

    def sync(self) -> None:
        if self.handle is not None and self.unsynced:
            try:
                os.fsync(self.handle.fileno())
            except OSError as exc:
                raise WarcError(f"cannot sync {self.folder / self.name}: {exc}") from exc
        self.unsynced = 0
        self.synced_at = time.monotonic()

    def close(self) -> None:
        if self.handle is not None:
            try:
                self.sync()
            finally:
                self.handle.close()
                self.handle = None


class WarcCaptureMiddleware:
    """Downloader middleware: writes every response (and its request) before any other
    middleware acts on it; notes the record in ``request.meta["rfi_warc"]``."""

    def __init__(self, crawler: Crawler, config: RfiConfig) -> None:
        assert config.warc_dir is not None
        self.crawler = crawler
        self.files = WarcFiles(
            config.warc_dir,
            crawler.spidercls.name,
            config.warc_max_mb * 1024 * 1024,
            config.sync_every,
            config.sync_seconds,
            info={
                "software": f"rfi-crawler/{__version__} (Scrapy {scrapy.__version__}; warcio)",
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
                "warc-format/warc-1.1/",
                "robots": "obey" if crawler.settings.getbool("ROBOTSTXT_OBEY") else "ignore",
                "http-header-user-agent": str(crawler.settings.get("USER_AGENT") or ""),
                "operator": config.contact,
                # The crawl's RFI_BASE_URL: rfi-dataset re-extract gives it as crawl.origin.
                "rfi-origin": config.origin,
                "python": platform.python_version(),
                "note": "request records are rebuilt from Scrapy's request; response bodies "
                "are as received (a Transfer-Encoding header is kept as "
                "X-Archive-Orig-Transfer-Encoding: the body is dechunked)",
            },
        )
        self.failed = False
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCaptureMiddleware:
        config = crawl_config(crawler)
        if config.warc_dir is None:
            raise NotConfigured  # no message: Scrapy would log "Disabled …" as a WARNING
        return cls(crawler, config)

    def process_response(self, request: Request, response: Response) -> Response:
        if self.failed:
            return response
        if "cached" in response.flags:  # HTTPCACHE_ENABLED: archived when it was fetched
            self.crawler.stats.inc_value("rfi/warc/cached_skipped")
            return response
        try:
            record_id = self.files.write_exchange(request, response)
        except WarcError as exc:
            self._fail(exc)
            return response
        stats = self.crawler.stats
        stats.inc_value("rfi/warc/responses")
        stats.inc_value("rfi/warc/bytes", len(response.body))
        request.meta[META_KEY] = {"file": self.files.name, "record_id": record_id}
        return response

    def _fail(self, exc: WarcError) -> None:
        """The archive cannot be written (disk full, I/O error): stop, as for the run file;
        pages exported without their raw response would break the archive's promise."""
        self.failed = True
        self.crawler.stats.inc_value("rfi/warc/failed")
        logger.error("%s; stopping the crawl", exc)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="warc_error"))

    def spider_closed(self, spider: Spider, reason: str) -> None:
        try:
            self.files.close()
        except WarcError as exc:
            self.crawler.stats.inc_value("rfi/warc/failed")
            logger.error("%s", exc)
        self.crawler.stats.set_value("rfi/warc/files", len(self.files.files))
        if self.files.files:
            logger.info(
                "WARC: %d records in %d files in %s (last %s)",
                self.files.records,
                len(self.files.files),
                self.files.folder,
                self.files.name,
            )


class WarcLinkMiddleware:
    """Spider middleware: each record gets ``crawl.warc`` = {file, record_id} of the
    response it was extracted from."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcLinkMiddleware:
        if crawl_config(crawler).warc_dir is None:
            raise NotConfigured  # off unless RFI_WARC_DIR is set; nothing to warn about
        return cls()

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        where = response.meta.get(META_KEY)
        for output in result:
            yield _linked(output, where)

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        where = response.meta.get(META_KEY)
        async for output in result:
            yield _linked(output, where)


def _linked(output: Any, where: dict[str, str] | None) -> Any:
    if where is not None and ItemAdapter.is_item(output):
        crawl = ItemAdapter(output).get("crawl")
        if isinstance(crawl, dict):
            crawl["warc"] = dict(where)
    return output
