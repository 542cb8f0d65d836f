"""The article record: one dataclass, every field declared with its default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ArticleItem:
    id: str | None = None
    url: str | None = None
    edition: str | None = None
    language: str | None = None
    type: str | None = None
    title: str | None = None
    kicker: str | None = None
    lead: str | None = None
    body: str | None = None
    subheadings: list[str] = field(default_factory=list)
    published_at: str | None = None
    modified_at: str | None = None
    authors: list[str] = field(default_factory=list)
    # A wire agency's credit line (`© 2021 AFP`) that closed the body.
    credit: str | None = None
    section: str | None = None
    programme: str | None = None
    tags: list[str] = field(default_factory=list)
    image: dict[str, Any] | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    related: list[dict[str, str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    translations: dict[str, str] = field(default_factory=dict)
    char_count: int | None = None
    content_hash: str | None = None
    # Which extraction made the record (records.EXTRACTOR_VERSION); see CHANGELOG.md.
    extractor_version: int | None = None
    crawl: dict[str, Any] | None = None
    # Assigned by the state store when the record is exported (1, 2, … as content changes).
    version: int | None = None
    # Set at export: when this version was first seen (UTC); for a version after the first,
    # the content fields it changed and why (``rfi``, or ``extractor``: our extraction
    # changed, so it is not reported as an RFI edit). See rfi_crawler/versions.py.
    detected_at: str | None = None
    changed_fields: list[str] | None = None
    change_cause: str | None = None
