"""Small named processors for the article loader; each one is unit-tested."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Latin whitespace and no-break spaces collapse; the ideographic space U+3000 is
# typography inside Chinese headlines (`国安法下异见遭噤声　香港学生…`) and is kept.
_WHITESPACE = re.compile(r"[ \t\n\r\f\v\u00a0\u202f\u2009]+")
# The schema's `id` pattern says the same (test_schema checks they agree).
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_LOOSE = re.compile(r"[\s\-–—_]+")
# Words that fill a section's place in some URLs but name none [seen in 2020 archive files].
_FILLER_SECTIONS = frozenset({"contenu"})
_VISIBLE_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s*-\s*(\d{1,2}):(\d{2})")
_SITE_SUFFIXES = (
    " – 法国国际广播电台 - RFI",
    " - 法国国际广播电台 - RFI",
    " - 法国国际广播电台",
    " - RFI",
)


def remove_zero_width(text: str) -> str:
    return _ZERO_WIDTH.sub("", text)


def collapse_whitespace(text: str) -> str | None:
    """Runs of whitespace become one space; ends are trimmed; empty text becomes None."""
    text = _WHITESPACE.sub(" ", text).strip(" \u3000")
    return text or None


def clean_text(value: Any) -> str | None:
    """Zero-width characters removed, whitespace collapsed and trimmed.

    Missing sources arrive as None (or a stray JSON number): only text comes out.
    """
    if not isinstance(value, str):
        return None
    return collapse_whitespace(remove_zero_width(value))


def _loose(text: str) -> str:
    """Spaces, hyphens and dashes dropped: `生态 健康与科技` matches the slug `生态-健康与科技`."""
    return _LOOSE.sub("", text)


def strip_title_suffix(title: str, loader_context: dict[str, Any]) -> str:
    """Drop the site suffix and the ` - <programme>` suffix some headlines carry.

    The programme comes from the URL slug, whose hyphens the headline may write as
    spaces, so the suffix is compared with spaces and dashes ignored.
    """
    for suffix in _SITE_SUFFIXES:
        if title.endswith(suffix):
            title = title[: -len(suffix)].rstrip()
    programme = loader_context.get("programme")
    if programme:
        for dash in (" - ", " – "):
            head, found, tail = title.rpartition(dash)
            if found and head.strip() and _loose(tail) == _loose(programme):
                return head.rstrip()
    return title


def block_text(lines: Any) -> str | None:
    """One body block from its raw lines (a paragraph split at `<br>`, or a list's items):
    each line cleaned, empty lines dropped, the rest joined by one newline."""
    if isinstance(lines, str):
        lines = [lines]
    cleaned = [text for text in map(clean_text, lines) if text]
    return "\n".join(cleaned) or None


def clean_image(image: dict[str, Any]) -> dict[str, Any]:
    """The image's caption and credit cleaned like any text (its URL is the extractor's)."""
    return {
        **image,
        "caption": clean_text(image.get("caption")),
        "credit": clean_text(image.get("credit")),
    }


def clean_related(entry: dict[str, Any]) -> dict[str, Any]:
    """A related link's title: the first of its raw candidates (link text, then its title
    attribute) that is not blank."""
    candidates = entry.get("title")
    candidates = candidates if isinstance(candidates, list) else [candidates]
    title = next((text for text in map(clean_text, candidates) if text), None)
    return {**entry, "title": title}


def valid_id(value: str) -> str | None:
    """An id that is safe wherever it goes (a file name, a key): ASCII letters, digits,
    `-` and `_`, at most 100 characters (RFI's look like `WBMZ146377-RFI-CN-20251130`)."""
    return value if ID_PATTERN.fullmatch(value) else None


def not_a_section(section: str) -> str | None:
    """URL filler words that stand where a section would (`/cn/contenu/2020…`) are none."""
    return None if section.lower() in _FILLER_SECTIONS else section


class FirstSource:
    """List fields come whole from the first source with any non-blank value, never merged.

    Each source is a list of raw values or a zero-argument callable returning one (DOM
    fallbacks cost a walk of the page and are rarely needed, so they run only when reached).
    Every value goes through ``clean``; a source whose values all clean to None is skipped.
    """

    def __init__(self, *clean: Callable[[Any], Any]) -> None:
        self.clean = clean

    def __call__(self, sources: Iterable[Any]) -> list[Any]:
        for source in sources:
            values = source() if callable(source) else source
            cleaned = []
            for value in values if isinstance(values, list | tuple) else [values]:
                for function in self.clean:
                    if value is None:
                        break
                    value = function(value)
                if value not in (None, ""):
                    cleaned.append(value)
            if cleaned:
                return cleaned
        return []


def to_utc_iso(value: Any) -> str | None:
    """ISO 8601 with an offset, converted to UTC (`2025-11-30T09:13:47+00:00`).

    Text without an offset is rejected rather than guessed: the caller knows its zone.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return _utc_text(moment)


def paris_to_utc_iso(text: str) -> str | None:
    """The visible date `30/11/2025 - 10:13`, which is Paris time, in UTC."""
    match = _VISIBLE_DATE.search(text)
    if not match:
        return None
    day, month, year, hour, minute = (int(g) for g in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, tzinfo=PARIS)
    except ValueError:
        return None
    return _utc_text(moment)


def _utc_text(moment: datetime) -> str | None:
    """``moment`` in UTC, or None where UTC falls outside years 1–9999 (a page's
    `0001-01-01T00:00+05:00`)."""
    try:
        return moment.astimezone(UTC).isoformat(timespec="seconds")
    except OverflowError:
        return None


def unique_in_order(values: Iterable[Any]) -> list[Any]:
    """Drop repeats and empties, keeping the first occurrence of each value."""
    seen: set[Any] = set()
    result = []
    for value in values:
        key = repr(value) if isinstance(value, dict | list) else value
        if value in (None, "") or key in seen:
            continue
        seen.add(key)
        result.append(value)
    return result
