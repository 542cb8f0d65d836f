"""Derived record fields shared by every source of records (crawl, archive import)."""

from __future__ import annotations

import hashlib

from rfi_crawler.items import ArticleItem

#: Bumped whenever extraction output changes for the same page (CHANGELOG.md), so a changed
#: content_hash can be told apart: RFI edited the article, or we changed how we read it.
EXTRACTOR_VERSION = 2


def content_hash(title: str | None, lead: str | None, body: str | None) -> str:
    """sha256 hex of the normalised title, lead and body, joined by U+001F.

    The fields are already whitespace-normalised by the loader, so two fetches of an
    unchanged article hash alike whatever the page's markup around them.
    """
    text = "\x1f".join(part or "" for part in (title, lead, body))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def finalize(item: ArticleItem) -> ArticleItem:
    """Fill the fields computed from others."""
    item.char_count = len(item.body or "")
    item.content_hash = content_hash(item.title, item.lead, item.body)
    item.extractor_version = EXTRACTOR_VERSION
    return item
