"""Change events — what RFI edited, removed or restored after publication — read from the
versions and events in run files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rfi_crawler.dataset.textdiff import (
    LIST_FIELDS,
    TEXT_FIELDS,
    changed_fields,
    counts,
    field_text,
    runs,
)

EVENT_KINDS = ("edited", "removed", "restored")


@dataclass
class EditsReport:
    articles: int = 0
    versions: int = 0
    # A new version caused by our extractor changing, not by RFI: never an edit.
    extractor_changes: int = 0
    # A new version whose content fields are all equal (a new version for our reasons).
    no_change: int = 0
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_KINDS, 0))


def web_url(url: Any) -> str | None:
    """``url`` if it is a web address, else None. Records are input like any other: only a
    web address becomes a link (never ``javascript:``), in every output that links them."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def detected_at(record: dict[str, Any]) -> str | None:
    """When a version was first seen: its own ``detected_at``, else its fetch time."""
    return record.get("detected_at") or (record.get("crawl") or {}).get("fetched_at")


def edit_event(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The ``edited`` event between two consecutive versions, or None if RFI changed
    nothing (same content, or only our extractor changed)."""
    fields = changed_fields(old, new)
    if not fields:
        return None
    chars = {
        name: counts(runs(field_text(old, name) or "", field_text(new, name) or ""))
        for name in fields
        if name in TEXT_FIELDS or name in LIST_FIELDS
    }
    return {
        "kind": "edited",
        "url": new.get("url"),
        "id": new.get("id"),
        "version": new.get("version"),
        "previous_version": old.get("version"),
        "fields": fields,
        "chars": chars,
        "detected_at": detected_at(new),
        "published_at": new.get("published_at"),
        "title": new.get("title"),
    }


def lifecycle_event(record: dict[str, Any]) -> dict[str, Any]:
    """A removal or restoration as the crawl recorded it (an event line in a run file)."""
    return {
        "kind": record["event"],
        "url": record.get("url"),
        "id": record.get("id"),
        "fields": [],
        "detected_at": record.get("detected_at"),
        "published_at": record.get("published_at"),
        "title": record.get("title"),
        "evidence": record.get("evidence"),
    }


def events(
    versions: Iterable[dict[str, Any]],
    report: EditsReport,
    *,
    since: date | None = None,
    until: date | None = None,
) -> Iterator[dict[str, Any]]:
    """Events, in the order the lines come; ``versions`` are records and event lines in
    (url, version) order, so an article's consecutive versions meet one after another.
    ``since``/``until`` judge the UTC day an event was detected."""
    previous: dict[str, Any] | None = None
    for record in versions:
        found = _event_of(previous, record, report)
        if record.get("event") is None:
            previous = record
        if found is None or not _within(found.get("detected_at"), since, until):
            continue
        report.events[found["kind"]] += 1
        yield found


def _event_of(
    previous: dict[str, Any] | None, record: dict[str, Any], report: EditsReport
) -> dict[str, Any] | None:
    if record.get("event") in ("removed", "restored"):
        return lifecycle_event(record)
    if record.get("event") is not None:
        return None
    report.versions += 1
    if previous is None or previous.get("url") != record.get("url"):
        report.articles += 1
        return None
    # Marked by the crawl (``change_cause``), or told by the records themselves.
    if record.get("change_cause") == "extractor" or previous.get("extractor_version") != record.get(
        "extractor_version"
    ):
        report.extractor_changes += 1
        return None
    found = edit_event(previous, record)
    if found is None:
        report.no_change += 1
    return found


def _within(moment: str | None, since: date | None, until: date | None) -> bool:
    day = (moment or "")[:10]
    if since and (not day or day < since.isoformat()):
        return False
    return not (until and (not day or day > until.isoformat()))
