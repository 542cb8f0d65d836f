"""Parquet output with typed columns (needs pyarrow: ``pip install 'rfi-crawler[dataset]'``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 5000
_TEXT_LIST = pa.list_(pa.string())
_TIME = pa.timestamp("s", tz="UTC")
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("edition", pa.string()),
        ("language", pa.string()),
        ("type", pa.string()),
        ("title", pa.string()),
        ("kicker", pa.string()),
        ("lead", pa.string()),
        ("body", pa.string()),
        ("subheadings", _TEXT_LIST),
        ("published_at", _TIME),
        ("modified_at", _TIME),
        ("authors", _TEXT_LIST),
        ("section", pa.string()),
        ("programme", pa.string()),
        ("tags", _TEXT_LIST),
        (
            "image",
            pa.struct([("url", pa.string()), ("caption", pa.string()), ("credit", pa.string())]),
        ),
        (
            "media",
            pa.list_(
                pa.struct([("kind", pa.string()), ("url", pa.string()), ("duration", pa.int64())])
            ),
        ),
        ("related", pa.list_(pa.struct([("url", pa.string()), ("title", pa.string())]))),
        ("links", _TEXT_LIST),
        ("translations", pa.map_(pa.string(), pa.string())),
        ("char_count", pa.int64()),
        ("content_hash", pa.string()),
        ("version", pa.int64()),
        (
            "crawl",
            pa.struct(
                [
                    ("fetched_at", _TIME),
                    ("via", pa.string()),
                    ("referer", pa.string()),
                    ("depth", pa.int64()),
                ]
            ),
        ),
    ]
)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row = {name: record.get(name) for name in SCHEMA.names}
    for name in ("published_at", "modified_at"):
        row[name] = datetime.fromisoformat(row[name]) if row[name] else None
    crawl = dict(record.get("crawl") or {})
    if crawl.get("fetched_at"):
        crawl["fetched_at"] = datetime.fromisoformat(crawl["fetched_at"])
    row["crawl"] = crawl or None
    row["translations"] = list((record.get("translations") or {}).items())
    return row


def write_parquet(records: Iterator[dict[str, Any]], out: IO[bytes]) -> None:
    with pq.ParquetWriter(out, SCHEMA, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(_row(record))
            if len(batch) >= ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
                batch.clear()
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
