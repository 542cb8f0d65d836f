"""Merge run files into one dataset: one record per article (or every version), filtered,
sorted by ``published_at`` then ``id``, in JSON Lines, CSV or Parquet.

Streaming throughout: records go into a temporary SQLite table on disk (keyed by URL and
version, so a file given twice adds nothing), and come out in order through SQLite's
external sort. Memory stays bounded whatever the input size.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import IO, Any

from rfi_crawler import urls
from rfi_crawler.dataset.reader import InputError, ReadReport, read_records
from rfi_crawler.dataset.shape import record_shape
from rfi_crawler.export.run_file import MAX_LINE, encode_record

FORMATS = ("jsonl", "csv", "parquet")
CSV_LIST_SEPARATOR = " | "
#: Characters that make a spreadsheet read a cell as a formula; such cells get a leading '.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CSV_PREFIX = {"translations": "translation"}  # translation_zh_hans, as published before
#: The archive format has no origin; its records all came from the real site.
ARCHIVE_ORIGIN = "https://www.rfi.fr"
PROGRESS_SECONDS = 30.0


@cache
def _csv_columns() -> dict[str, tuple[str, str | None]]:
    """CSV column → (field, key inside it): objects and maps spread into one column per key."""
    columns: dict[str, tuple[str, str | None]] = {}
    for name, shape in record_shape().items():
        if shape.kind in ("object", "map"):
            prefix = _CSV_PREFIX.get(name, name)
            for key in shape.fields:
                columns[f"{prefix}_{key.lower().replace('-', '_')}"] = (name, key)
        else:
            columns[name] = (name, None)
    return columns


CSV_COLUMNS = tuple(_csv_columns())


def origin_of(record: dict[str, Any]) -> str:
    """``crawl.origin`` when the record has it (an event line: its ``origin``), else
    scheme://host[:port] of its url."""
    if "event" in record and isinstance(record.get("origin"), str):
        return _url_origin(record["origin"])
    crawl = record.get("crawl") or {}
    if isinstance(crawl.get("origin"), str):
        return _url_origin(crawl["origin"])  # RFI_BASE_URL as typed: one spelling
    if crawl.get("via") == "archive":
        return ARCHIVE_ORIGIN
    # "scheme://netloc" only: parsed once per site, not once per record.
    return _url_origin("/".join(record["url"].split("/", 3)[:3]))


@lru_cache(maxsize=256)
def _url_origin(start: str) -> str:
    return urls.origin_of(start) or start  # what is no http(s) origin is told as it is


class Progress:
    """A line on standard error every ``every`` records or PROGRESS_SECONDS (0: silent)."""

    def __init__(self, every: int = 0, stream: IO[str] | None = None) -> None:
        self.every = every
        self.stream = stream or sys.stderr
        self._last = time.monotonic()

    def tick(self, count: int, message: str) -> None:
        if not self.every:
            return
        if count % self.every == 0 or (
            count % 1000 == 0 and time.monotonic() - self._last >= PROGRESS_SECONDS
        ):
            # One write: a Ctrl-C between a message and its newline would glue the next line on.
            self.stream.write(f"rfi-dataset: {message}\n")
            self.stream.flush()
            self._last = time.monotonic()


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    until: date | None = None
    sections: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    def accepts(self, record: dict[str, Any]) -> bool:
        day = str(record.get("published_at") or "")[:10]
        if self.since and (not day or day < self.since.isoformat()):
            return False
        if self.until and (not day or day > self.until.isoformat()):
            return False
        if self.sections and record.get("section") not in self.sections:
            return False
        if self.types and record.get("type") not in self.types:
            return False
        return not self.tags or bool(self.tags & set(record.get("tags") or []))


@dataclass(frozen=True)
class ReadOptions:
    skip_invalid: bool = False
    max_line: int = MAX_LINE
    allow_mixed_origins: bool = False
    progress: Progress = field(default_factory=Progress)


@dataclass
class BuildReport:
    read: ReadReport
    written: int = 0
    sections: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None
    archived: int = 0
    # URL → (detected_at, event) of its latest removed/restored event line.
    lifecycle: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed: int = 0  # records written with removed_at

    def removed_at(self, url: str) -> str | None:
        """When the article was recorded removed, unless a later event restored it."""
        moment, event = self.lifecycle.get(url, ("", ""))
        return moment if event == "removed" else None


def build(
    files: list[Path],
    out: IO[bytes],
    fmt: str,
    filters: Filters,
    *,
    all_versions: bool = False,
    excel_bom: bool = False,
    options: ReadOptions | None = None,
) -> BuildReport:
    writer = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}[fmt]
    with merged(files, filters, all_versions=all_versions, options=options) as (records, report):
        writer(records, out, excel_bom=excel_bom)
    return report


@contextmanager
def merged(
    files: list[Path],
    filters: Filters,
    *,
    all_versions: bool = False,
    skip_invalid: bool = False,
    by_article: bool = False,
    options: ReadOptions | None = None,
) -> Iterator[tuple[Iterator[dict[str, Any]], BuildReport]]:
    """The records of ``files``, merged, filtered and in order, streamed from disk: by
    ``published_at`` then id, or with ``by_article`` every version of an article together,
    oldest first. Event lines (``"event": …``) are not records and are left out.
    ``options`` (how to read) defaults to ``ReadOptions(skip_invalid=skip_invalid)``."""
    options = options or ReadOptions(skip_invalid=skip_invalid)
    report = BuildReport(ReadReport(files))
    with tempfile.TemporaryDirectory(prefix="rfi-dataset-") as scratch:
        db = sqlite3.connect(Path(scratch) / "merge.sqlite3")
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA cache_size=-65536")  # 64 MiB at most; the rest spills to disk
            db.execute(
                "CREATE TABLE r (url TEXT, version INTEGER, fetched TEXT, published TEXT,"
                " id TEXT, record TEXT, PRIMARY KEY (url, version))"
            )
            _load(db, files, report, filters, options)
            ordered = _marked(_ordered(db, all_versions, by_article), report)
            records = _counted(ordered, report, options.progress)
            yield records, report
        finally:
            db.close()


def _load(
    db: sqlite3.Connection,
    files: list[Path],
    report: BuildReport,
    filters: Filters,
    options: ReadOptions,
) -> None:
    batch: list[tuple[Any, ...]] = []
    sql = (
        "INSERT INTO r VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (url, version) DO UPDATE SET"
        " fetched = excluded.fetched, published = excluded.published, id = excluded.id,"
        " record = excluded.record WHERE (excluded.fetched, excluded.record)"
        " > (r.fetched, r.record)"
    )
    first_seen: dict[str, str] = {}  # origin → file:line of its first record
    read = read_records(files, report.read, options.skip_invalid, options.max_line)
    for path, number, record in read:
        options.progress.tick(report.read.records, f"read {report.read.records} records")
        origin = origin_of(record)
        if origin not in first_seen:
            first_seen[origin] = f"{path}:{number}"
            if len(first_seen) > 1 and not options.allow_mixed_origins:
                seen = ", ".join(f"{o} (first at {where})" for o, where in first_seen.items())
                raise InputError(
                    f"records from different origins: {seen}; a replica or test crawl mixed"
                    " with real data? Pass --allow-mixed-origins to merge them anyway"
                )
        if "event" in record:
            _note_event(report, record)
            continue
        if not filters.accepts(record):
            continue
        report.origins[origin] += 1
        crawl = record.get("crawl") or {}
        batch.append(
            (
                record["url"],
                record.get("version") or 0,
                crawl.get("fetched_at") or "",
                record.get("published_at") or "",
                record.get("id") or "",
                json.dumps(record, ensure_ascii=False),
            )
        )
        if len(batch) >= 5000:
            db.executemany(sql, batch)
            batch.clear()
    db.executemany(sql, batch)
    db.commit()


def _ordered(
    db: sqlite3.Connection, all_versions: bool, by_article: bool
) -> Iterator[dict[str, Any]]:
    if by_article:
        query = "SELECT record FROM r ORDER BY url, version"
    elif all_versions:
        query = "SELECT record FROM r ORDER BY published, id, url, version"
    else:
        # The latest version of each article: the highest version, then the latest fetch.
        query = (
            "SELECT record FROM (SELECT record, published, id, url, ROW_NUMBER() OVER"
            " (PARTITION BY url ORDER BY version DESC, fetched DESC) AS n FROM r)"
            " WHERE n = 1 ORDER BY published, id, url"
        )
    for (text,) in db.execute(query):
        yield json.loads(text)


def _note_event(report: BuildReport, event: dict[str, Any]) -> None:
    """Keep each article's latest removed/restored event (by detection time)."""
    kind, moment = event.get("event"), event.get("detected_at")
    if (
        kind in ("removed", "restored")
        and isinstance(moment, str)
        and moment >= report.lifecycle.get(event["url"], ("", ""))[0]
    ):
        report.lifecycle[event["url"]] = (moment, kind)


def _marked(records: Iterator[dict[str, Any]], report: BuildReport) -> Iterator[dict[str, Any]]:
    """Removed articles are kept, with ``removed_at``."""
    for record in records:
        if removed := report.removed_at(record["url"]):
            record["removed_at"] = removed
            report.removed += 1
        yield record


def _counted(
    records: Iterator[dict[str, Any]], report: BuildReport, progress: Progress
) -> Iterator[dict[str, Any]]:
    for record in records:
        report.written += 1
        progress.tick(report.written, f"wrote {report.written} records")
        report.sections[record.get("section") or "(none)"] += 1
        report.types[record.get("type") or "(none)"] += 1
        published = record.get("published_at")
        if published:
            report.first = min(report.first or published, published)
            report.last = max(report.last or published, published)
        if (record.get("crawl") or {}).get("via") == "archive":
            report.archived += 1
        yield record


def _write_jsonl(records: Iterator[dict[str, Any]], out: IO[bytes], **_: Any) -> None:
    for record in records:
        out.write(encode_record(record))


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading ' (shown as text)."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: lists of text joined, objects and maps spread into columns, lists of
    objects (media, related) as JSON text, formulas neutralised."""
    shapes = record_shape()
    row: dict[str, Any] = {}
    for column, (name, key) in _csv_columns().items():
        value = record.get(name)
        if key is not None:
            value = (value or {}).get(key)
        elif shapes[name].kind == "array":
            items = value or []
            value = (
                CSV_LIST_SEPARATOR.join(items)
                if shapes[name].items.kind == "string"  # type: ignore[union-attr]
                else json.dumps(items, ensure_ascii=False)
            )
        row[column] = csv_safe(value)
    return row


def _write_csv(
    records: Iterator[dict[str, Any]], out: IO[bytes], excel_bom: bool = False, **_: Any
) -> None:
    text = io.TextIOWrapper(
        out, encoding="utf-8-sig" if excel_bom else "utf-8", newline="", write_through=True
    )
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerow(flatten(record))
    text.flush()
    text.detach()


def _write_parquet(records: Iterator[dict[str, Any]], out: IO[bytes], **_: Any) -> None:
    try:
        from rfi_crawler.dataset.parquet import write_parquet
    except ImportError as exc:  # pyarrow is an optional dependency
        raise SystemExit(
            f"rfi-dataset: Parquet needs pyarrow ({exc}); pip install 'rfi-crawler[dataset]'"
        ) from exc
    if out is sys.stdout.buffer:
        raise SystemExit("rfi-dataset: Parquet cannot go to standard output; give -o FILE")
    write_parquet(records, out)
