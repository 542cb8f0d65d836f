"""Offline re-extraction: today's extractor run on article responses kept in WARC files.

No network: each archived ``200`` response of a content URL goes through the crawl's
own steps (the response class Scrapy would build, the binary/truncated guards, the page
read in the charset its bytes are in, ``extract_article``, schema validation) and becomes
a record with ``crawl.via = "warc"``, ``crawl.fetched_at`` = the response's ``WARC-Date``
(when it was received), ``crawl.warc`` = the record it came from, ``crawl.referer`` from
the request's ``Referer`` header and ``crawl.depth`` 0 (related hops are not archived).

Within one re-extraction a record identical to an earlier one of the same article is
left out (an article fetched by several runs yields one record while it is unchanged).
With ``against`` (run files), a record is written only where the extractor now gives
different fields than the latest version there — every field compared except provenance
(``crawl``, ``version``, ``extractor_version``) — and then carries that version + 1.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import multiprocessing
import os
import resource
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from itemadapter import ItemAdapter
from scrapy.http import Headers, HtmlResponse
from scrapy.responsetypes import responsetypes
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from rfi_crawler import urls
from rfi_crawler.config import REAL_ORIGIN
from rfi_crawler.dataset import plural
from rfi_crawler.dataset.reader import InputError
from rfi_crawler.encoding import is_binary, is_truncated
from rfi_crawler.extract.article import extract_article
from rfi_crawler.extract.parse import read_page
from rfi_crawler.schema import validation_errors
from rfi_crawler.settings import DOWNLOAD_MAXSIZE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path
    from typing import BinaryIO

logger = logging.getLogger(__name__)

PROVENANCE = (
    "crawl",
    "version",
    "extractor_version",
    "detected_at",
    "changed_fields",
    "change_cause",
)
# Decoded by warcio (as HttpCompressionMiddleware decodes them in a crawl).
DECODED_HEADERS = {b"content-encoding", b"transfer-encoding", b"content-length"}
# One file for several workers: parts per worker (small parts even out their speeds).
PARTS_PER_JOB = 4
PART_SCAN = 1 << 16  # bytes read at a time looking for a record's gzip member
GZIP_MAGIC = b"\x1f\x8b\x08"
MAX_WARCINFO = 1 << 16  # bytes of a warcinfo read for its fields (ours are ~700)
MAX_BODY = DOWNLOAD_MAXSIZE  # a response body, decoded: the crawl's own limit
READ_PIECE = 1 << 16


class WarcReadError(InputError):
    """A file that is not a readable WARC file."""


@dataclass(frozen=True)
class Archived:
    """One archived article response, as the extractor needs it."""

    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    fetched_at: str | None  # None: the record's WARC-Date is missing or no time
    file: str
    record_id: str
    referer: str | None = None
    declared_origin: str | None = None  # the crawl's RFI_BASE_URL its warcinfo names


@dataclass
class Report:
    files: int = 0
    responses: int = 0  # article responses read
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    jobs: int = 1
    cut_short: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.responses / self.seconds if self.seconds else 0.0
        cpu = 1000 * self.cpu_seconds / self.responses if self.responses else 0.0
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "none"
        return (
            f"re-extracted {plural(self.responses, 'article response')} from"
            f" {plural(self.files, 'WARC file')} ({outcomes}) in {self.seconds:.1f} s:"
            f" {rate:.1f} pages/s, {cpu:.1f} CPU ms/page, {plural(self.jobs, 'job')}"
            + (
                f"; cut short, read up to the cut: {', '.join(self.cut_short)}"
                if self.cut_short
                else ""
            )
        )


def _fetch_time(warc_date: str | None) -> str | None:
    """``2026-12-06T13:08:06.123456Z`` → ``2026-12-06T13:08:06+00:00`` (seconds cut); None
    when missing or not a UTC time (that one record is skipped, not the file)."""
    try:
        moment = datetime.fromisoformat((warc_date or "").replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return None
        return moment.astimezone(UTC).replace(microsecond=0).isoformat()
    except (ValueError, OverflowError):
        return None


def response_origin(uri: str, declared: str | None = None) -> str | None:
    """The origin a response was fetched from, as a crawl's ``RFI_BASE_URL`` names it, when
    it is the site's (``https://www.rfi.fr``), the one its WARC file's crawl names
    (``declared``: a mirror's), or a replica's on this machine (a loopback host); None for
    any other host: a page served from elsewhere is no page of that crawl."""
    origin = urls.origin_of(uri)
    if origin is None:
        return None
    if origin in (REAL_ORIGIN, declared):
        return origin
    host = urlsplit(origin).hostname or ""
    try:
        return origin if host == "localhost" or ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


def _is_article_uri(uri: str) -> bool:
    path = urls.unquote_path(urlsplit(uri).path)
    return path is not None and urls.is_content_path(path, ("cn", "tw"))


def archived_articles(
    path: Path, handle: BinaryIO, report: Report, end: int | None = None
) -> Iterator[Archived]:
    """The ``200`` responses of content URLs in one WARC file, each with the ``Referer``
    of the request written right after it. A file cut short (a crash leaves at most its
    last record so) gives what comes before the cut, and is named in the report.

    From where ``handle`` stands (a record's start); with ``end``, only the records that
    start before it (the request after the last response is still read, for its Referer)."""
    _check_warc(path, handle)
    declared = declared_origin(handle)
    pending: Archived | None = None
    done = False
    try:
        records = ArchiveIterator(handle)
        for record in records:
            kind = record.rec_type
            headers = record.rec_headers
            if pending is not None:
                referer = None
                if kind == "request" and headers.get_header("WARC-Concurrent-To") == (
                    pending.record_id
                ):
                    referer = record.http_headers.get_header("Referer")
                yield replace(pending, referer=referer)
                pending = None
            if done:
                break  # read only to pair the response before it
            uri = headers.get_header("WARC-Target-URI") or ""
            wanted = (
                kind == "response"
                and record.http_headers is not None
                and record.http_headers.get_statuscode() == "200"
                and _is_article_uri(uri)
            )
            # At most what the crawl downloads (DOWNLOAD_MAXSIZE, decoded): a 3 KB record
            # of gzip may hold a gigabyte of spaces. What is not kept is read in pieces.
            body = record.content_stream().read(MAX_BODY + 1) if wanted else b""
            while record.raw_stream.read(READ_PIECE):
                pass
            if getattr(record.raw_stream, "limit", 0) > 0:
                raise EOFError(f"record {headers.get_header('WARC-Record-ID')} is cut short")
            if wanted and len(body) > MAX_BODY:
                report.outcomes["failed/too_large"] += 1
                logger.warning(
                    "%s: record %s: body over %d bytes once decoded; skipped",
                    path,
                    headers.get_header("WARC-Record-ID"),
                    MAX_BODY,
                )
                wanted = False
            if wanted:
                warc_date = headers.get_header("WARC-Date")
                fetched_at = _fetch_time(warc_date)
                if fetched_at is None:
                    logger.warning(
                        "%s: record %s: WARC-Date %r is not a time; that record is skipped",
                        path,
                        headers.get_header("WARC-Record-ID"),
                        warc_date,
                    )
                pending = Archived(
                    url=uri,
                    headers=[
                        (name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in record.http_headers.headers
                        if name.lower().encode() not in DECODED_HEADERS
                    ],
                    body=body,  # dechunked, Content-Encoding decoded
                    fetched_at=fetched_at,
                    file=path.name,
                    record_id=headers.get_header("WARC-Record-ID"),
                    declared_origin=declared,
                )
            if end is not None:
                done = records.get_record_offset() + records.get_record_length() >= end
                if done and pending is None:
                    break
    except (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error) as exc:
        report.cut_short.append(path.name)
        logger.warning("%s: unreadable past this point (%s); the rest is skipped", path, exc)
    if pending is not None:  # whole, even if the request record after it is not
        yield pending


def declared_origin(handle: BinaryIO) -> str | None:
    """The origin the file's crawl named (``rfi-origin`` in its warcinfo, the first record
    a crawl writes), spelled as ``urls.origin_of`` spells one (RFI_BASE_URL is kept as
    typed: https://Mirror.example:443), or None: an older file, or another tool's. Read
    from the file's start whatever part is being read; ``handle`` is left where it stood."""
    start = handle.tell()
    handle.seek(0)
    try:
        for record in ArchiveIterator(handle):
            if record.rec_type == "warcinfo":
                text = record.content_stream().read(MAX_WARCINFO).decode("utf-8", "replace")
                for line in text.splitlines():
                    name, _, value = line.partition(":")
                    if name.strip() == "rfi-origin":
                        return urls.origin_of(value.strip())
            return None
    except (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error):
        return None  # its records are judged without it (and the file's damage reported)
    finally:
        handle.seek(start)
    return None


def _check_warc(path: Path, handle: BinaryIO) -> None:
    """A WARC file (gzipped or not) starts with ``WARC/``; anything else is refused."""
    start = handle.tell()
    head = handle.read(4096)
    handle.seek(start)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(zlib.MAX_WBITS + 16).decompress(head)
        except zlib.error:
            head = b""
    if not head.startswith(b"WARC/"):
        raise WarcReadError(f"{path}: not a readable WARC file")


def extract(archived: Archived) -> tuple[str, dict[str, Any] | None]:
    """(outcome, record): the crawl's own steps from response to validated record."""
    if archived.fetched_at is None:  # logged where it was read
        return "skipped/warc_date", None
    origin = response_origin(archived.url, archived.declared_origin)  # the crawl's
    if origin is None:
        logger.warning(
            "%s: record %s: %r is neither www.rfi.fr, the crawl's origin nor a local replica;"
            " skipped",
            archived.file,
            archived.record_id,
            archived.url,
        )
        return "skipped/off_site", None
    headers = Headers(archived.headers)
    cls = responsetypes.from_args(headers=headers, url=archived.url, body=archived.body)
    response = cls(url=archived.url, headers=headers, body=archived.body, status=200)
    if not isinstance(response, HtmlResponse):
        return "failed/not_html", None
    if is_binary(response.body):
        return "failed/binary", None
    if is_truncated(response.body):
        return "failed/truncated", None
    referer = archived.referer and urls.canonical_url(archived.referer, origin)
    crawl = {
        "fetched_at": archived.fetched_at,
        "via": "warc",
        "referer": referer or None,
        "depth": 0,
        "origin": origin,
        "warc": {"file": archived.file, "record_id": archived.record_id},
    }
    # The crawl's own parse entry: read in the charset its bytes are in, no decoded copy of
    # the page, no Response↔Selector cycle.
    selector, _ = read_page(response)
    item = extract_article(selector, response.url, origin, crawl)
    if item is None:
        return "failed/no_article", None
    record = ItemAdapter(item).asdict()
    if record.get("version") is None:
        record.pop("version", None)
    errors = validation_errors(record)
    if errors:
        logger.error("invalid record skipped: %s: %s", archived.url, "; ".join(errors))
        return "skipped/invalid", None
    return "extracted", record


def fingerprint(record: dict[str, Any]) -> str:
    """sha256 of every field but provenance: equal when the extractor gives the same.
    A null field counts as absent: older records lack fields added since (``credit``)."""
    fields = {k: v for k, v in record.items() if k not in PROVENANCE and v is not None}
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _open_check(path: Path) -> None:
    """A readable WARC file, or a WarcReadError, before any worker starts."""
    try:
        with open(path, "rb") as handle:
            _check_warc(path, handle)
    except OSError as exc:
        raise WarcReadError(f"{path}: {exc}") from exc


def _responses(paths: Iterable[Path], report: Report) -> Iterator[Archived]:
    for path in paths:
        report.files += 1
        try:
            handle = open(path, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise WarcReadError(f"{path}: {exc}") from exc
        with handle:
            for archived in archived_articles(path, handle, report):
                report.responses += 1
                yield archived


@dataclass(frozen=True)
class Extracted:
    """What a worker sends back: the outcome, and for a record its id, fingerprint and
    JSON line (serialised in the worker, so the reading process stays light)."""

    outcome: str
    id: str | None = None
    fingerprint: str | None = None
    line: bytes | None = None


def dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def prepare(archived: Archived) -> Extracted:
    outcome, record = extract(archived)
    if record is None:
        return Extracted(outcome)
    return Extracted(outcome, record["id"], fingerprint(record), dumps(record))


def _part_results(part: tuple[Path, int, int | None]) -> tuple[Report, list[Extracted]]:
    """The records of one part of a WARC file (``start``, ``end``: byte offsets of record
    starts; ``end`` None: to the end), read and extracted in a worker."""
    path, start, end = part
    report = Report()
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise WarcReadError(f"{path}: {exc}") from exc
    with handle:
        handle.seek(start)
        results = []
        for archived in archived_articles(path, handle, report, end):
            report.responses += 1
            results.append(prepare(archived))
    return report, results


def file_parts(path: Path, pieces: int) -> list[tuple[Path, int, int | None]]:
    """``path`` cut into about ``pieces`` parts at gzip members that start a WARC record
    (our WARC files gzip each record on its own); one part when none is found (a plain or
    a wholly gzipped file)."""
    size = path.stat().st_size
    starts = [0]
    with open(path, "rb") as handle:
        for n in range(1, pieces):
            found = _record_member_at_or_after(handle, max(n * size // pieces, starts[-1] + 1))
            if found is None:
                break
            if found > starts[-1]:
                starts.append(found)
    ends: list[int | None] = [*starts[1:], None]
    return [(path, start, end) for start, end in zip(starts, ends, strict=True)]


def _record_member_at_or_after(handle: BinaryIO, offset: int) -> int | None:
    """The first offset from ``offset`` where a gzip member starts whose text starts a
    WARC record: the magic bytes, then ``WARC/`` once inflated (no other bytes pass both)."""
    while True:
        handle.seek(offset)
        window = handle.read(PART_SCAN)
        if not window:
            return None
        at = window.find(GZIP_MAGIC)
        while at >= 0:
            handle.seek(offset + at)
            try:
                head = zlib.decompressobj(zlib.MAX_WBITS + 16).decompress(handle.read(4096), 8)
            except zlib.error:
                head = b""
            if head.startswith(b"WARC/"):
                return offset + at
            at = window.find(GZIP_MAGIC, at + 1)
        if len(window) < PART_SCAN:
            return None  # the end of the file
        offset += len(window) - len(GZIP_MAGIC) + 1  # a magic across windows is found too


def _extracted_by_part(
    parts: list[tuple[Path, int, int | None]], jobs: int, report: Report
) -> Iterator[Extracted]:
    """Workers read and extract parts of files, in order: no page crosses processes."""
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(jobs) as pool:
        for part, results in pool.imap(_part_results, parts):
            report.responses += part.responses
            report.outcomes += part.outcomes  # what the reading skipped (too large)
            report.cut_short += [name for name in part.cut_short if name not in report.cut_short]
            yield from results
        pool.close()
        pool.join()


def reextract(
    paths: list[Path],
    write: Callable[[bytes], Any],
    *,
    jobs: int = 1,
    against: dict[str, tuple[int, str]] | None = None,
) -> Report:
    """Re-extract every archived article response of ``paths``; ``write(line)`` each JSON
    line kept. ``against``: id → (latest version, fingerprint) of records already out."""
    report = Report(jobs=jobs)
    seen: dict[str, str] = {}  # id → fingerprint of the record last written
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    # Workers read parts of the files themselves (whole files when there are enough, else
    # each file cut at record boundaries): no page crosses processes. A file that cannot be
    # cut (not gzipped per record) goes whole to one worker.
    if jobs > 1:
        parts = []
        for path in paths:
            _open_check(path)
            report.files += 1
            pieces = 1 if len(paths) >= 2 * jobs else jobs * PARTS_PER_JOB
            parts += file_parts(path, pieces)
        results = _extracted_by_part(parts, jobs, report)
    else:
        results = map(prepare, _responses(paths, report))
    for result in results:
        if result.line is None:
            report.outcomes[result.outcome] += 1
            continue
        key, print_ = result.id, result.fingerprint
        if seen.get(key) == print_:
            report.outcomes["skipped/duplicate"] += 1
            continue
        seen[key] = print_
        line = result.line
        if against is not None:
            version, earlier = against.get(key, (0, None))
            if earlier == print_:
                report.outcomes["unchanged"] += 1
                continue
            record = json.loads(line)
            record["version"] = version + 1
            if version:  # the same archived page read again: our change, not RFI's
                record["change_cause"] = "extractor"
            line = dumps(record)
            report.outcomes["changed" if version else "new"] += 1
        else:
            report.outcomes["written"] += 1
        write(line)
    report.seconds = time.perf_counter() - started
    report.cpu_seconds = _cpu_seconds() - cpu_before
    return report


def _cpu_seconds() -> float:
    """This process and its finished workers: user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def latest_versions(records: Iterable[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """id → (highest version, its fingerprint), from run files' records."""
    latest: dict[str, tuple[int, str]] = {}
    for record in records:
        key, version = record.get("id"), record.get("version") or 0
        if isinstance(key, str) and (key not in latest or version >= latest[key][0]):
            latest[key] = (version, fingerprint(record))
    return latest
