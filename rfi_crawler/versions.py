"""What changed between two versions of an article, judged from per-field hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rfi_crawler.dataset.textdiff import NOT_CONTENT
from rfi_crawler.fields import FIELDS

# The fields an RFI edit can change (the record minus our bookkeeping), in FIELDS order.
CONTENT_FIELDS = tuple(name for name in FIELDS if name not in NOT_CONTENT)
# Why a version differs from the one before it: RFI changed the page, or we changed how we
# read it (a different extractor_version; then RFI may have changed it too: we cannot tell).
CAUSE_SITE, CAUSE_EXTRACTOR = "rfi", "extractor"


def field_hashes(record: dict[str, Any]) -> dict[str, str]:
    """A short hash of each content field's value: the store keeps these, not the text,
    and still knows which fields the next version changed."""
    return {
        name: hashlib.sha256(
            json.dumps(record.get(name), ensure_ascii=False, sort_keys=True).encode()
        ).hexdigest()[:16]
        for name in CONTENT_FIELDS
    }


def changed_fields(old: dict[str, str] | None, new: dict[str, str]) -> list[str] | None:
    """The fields whose hashes differ, in FIELDS order; None when the old hashes are
    unknown (a version stored before the store kept them)."""
    if old is None:
        return None
    return [name for name in CONTENT_FIELDS if old.get(name) != new.get(name)]


def change_cause(old_extractor: int | None, new_extractor: int | None) -> str | None:
    """``extractor`` when our extraction changed between the versions, ``rfi`` when it did
    not, None when the stored version's extractor is unknown."""
    if old_extractor is None or new_extractor is None:
        return None
    return CAUSE_SITE if old_extractor == new_extractor else CAUSE_EXTRACTOR
