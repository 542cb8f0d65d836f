"""The one list of record fields, from the item; the schema, CSV, Parquet and stats follow it."""

from __future__ import annotations

from dataclasses import fields

from rfi_crawler.items import ArticleItem

#: Every field of a record, in the order of ``ArticleItem`` (and of the schema's properties).
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ArticleItem))
#: Fields the crawler computes or assigns itself rather than extracts from the page.
DERIVED = frozenset(
    {
        "char_count",
        "content_hash",
        "crawl",
        "extractor_version",
        "version",
        # Assigned at export (rfi_crawler/versions.py).
        "detected_at",
        "changed_fields",
        "change_cause",
    }
)
#: Extracted fields whose coverage (share of records that have a value) is reported.
COVERED: tuple[str, ...] = tuple(name for name in FIELDS if name not in DERIVED)
