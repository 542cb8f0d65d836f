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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from rfi_crawler.dataset.reader import ReadReport, read_records

FORMATS = ("jsonl", "csv", "parquet")
CSV_LIST_SEPARATOR = " | "
CSV_COLUMNS = (
    "id",
    "url",
    "edition",
    "language",
    "type",
    "title",
    "kicker",
    "lead",
    "body",
    "subheadings",
    "published_at",
    "modified_at",
    "authors",
    "section",
    "programme",
    "tags",
    "image_url",
    "image_caption",
    "image_credit",
    "media",
    "related",
    "links",
    "translation_zh_hans",
    "translation_zh_hant",
    "char_count",
    "content_hash",
    "version",
    "crawl_fetched_at",
    "crawl_via",
    "crawl_referer",
    "crawl_depth",
)


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


@dataclass
class BuildReport:
    read: ReadReport
    written: int = 0
    sections: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None
    archived: int = 0


def build(
    files: list[Path],
    out: IO[bytes],
    fmt: str,
    filters: Filters,
    *,
    all_versions: bool = False,
    skip_invalid: bool = False,
    excel_bom: bool = False,
) -> BuildReport:
    writer = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}[fmt]
    with merged(files, filters, all_versions=all_versions, skip_invalid=skip_invalid) as (
        records,
        report,
    ):
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
) -> Iterator[tuple[Iterator[dict[str, Any]], BuildReport]]:
    """The records of ``files``, merged, filtered and in order, streamed from disk: by
    ``published_at`` then id, or with ``by_article`` every version of an article together,
    oldest first. Event lines (``"event": …``) are not records and are left out."""
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
            _load(db, files, report, filters, skip_invalid)
            yield _counted(_ordered(db, all_versions, by_article), report), report
        finally:
            db.close()


def _load(
    db: sqlite3.Connection,
    files: list[Path],
    report: BuildReport,
    filters: Filters,
    skip_invalid: bool,
) -> None:
    batch: list[tuple[Any, ...]] = []
    sql = (
        "INSERT INTO r VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (url, version) DO UPDATE SET"
        " fetched = excluded.fetched, published = excluded.published, id = excluded.id,"
        " record = excluded.record WHERE (excluded.fetched, excluded.record)"
        " > (r.fetched, r.record)"
    )
    for _, _, record in read_records(files, report.read, skip_invalid):
        if "event" in record or not filters.accepts(record):
            continue
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


def _counted(records: Iterator[dict[str, Any]], report: BuildReport) -> Iterator[dict[str, Any]]:
    for record in records:
        report.written += 1
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
        out.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: lists of text joined, objects spread into columns, lists of objects
    (media, related) as JSON text."""
    image = record.get("image") or {}
    crawl = record.get("crawl") or {}
    translations = record.get("translations") or {}
    row = {name: record.get(name) for name in CSV_COLUMNS if name in record}
    for name in ("subheadings", "authors", "tags", "links"):
        row[name] = CSV_LIST_SEPARATOR.join(record.get(name) or [])
    for name in ("media", "related"):
        row[name] = json.dumps(record.get(name) or [], ensure_ascii=False)
    row.update(
        image_url=image.get("url"),
        image_caption=image.get("caption"),
        image_credit=image.get("credit"),
        translation_zh_hans=translations.get("zh-Hans"),
        translation_zh_hant=translations.get("zh-Hant"),
        crawl_fetched_at=crawl.get("fetched_at"),
        crawl_via=crawl.get("via"),
        crawl_referer=crawl.get("referer"),
        crawl_depth=crawl.get("depth"),
    )
    return {name: row.get(name) for name in CSV_COLUMNS}


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
