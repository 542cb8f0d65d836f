"""The page's own audio and video (never the live-radio player every page carries).

All of this markup is [reported] in RFI_SITE.md, not seen in a captured page, so every
source is optional and a malformed one is ignored.
"""

from __future__ import annotations

import html
import re
from typing import Any

from lxml import etree

from rfi_crawler.extract.page import json_documents

ARTICLE_PLAYERS = etree.XPath("descendant::script[@data-media-id]/text()")
VIDEO_SOURCES = etree.XPath("descendant::video-player/@source | descendant::youtube-player/@source")
VIDEO_SCRIPTS = etree.XPath("descendant::script[@data-media-video-id]/text()")
# Archive files glue attributes to their tag (`<youtube-playertype="em"…source="…"`), so a
# player there is found by its text: a `source="…"` within a bounded window after the tag.
_GLUED_PLAYER = re.compile(r"<(video|youtube|audio)-player")
_GLUED_SOURCE = re.compile(r'source="(https?://[^"\s]{1,2000})"')
_GLUED_WINDOW = 3000
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


def page_media(buttons: list[Any], article: Any, ld: dict[str, Any]) -> list[dict[str, Any]]:
    """Audio/video of the page (its ``button`` elements, its article, its JSON-LD): episode
    player JSON, JSON-LD audio/video, video players."""
    found: list[dict[str, Any]] = []
    in_article = article is not None
    player_scripts = _episode_audio(buttons) + (ARTICLE_PLAYERS(article) if in_article else [])
    for text in player_scripts:
        for doc in json_documents(text):
            if isinstance(doc, dict) and not _is_live(doc):
                found.append(_medium("audio", _first_source(doc), doc.get("duration")))
    for kind in ("audio", "video"):
        objects = ld.get(kind)
        for obj in objects if isinstance(objects, list) else [objects]:
            if isinstance(obj, dict):
                url = obj.get("contentUrl") or obj.get("embedUrl") or obj.get("url")
                found.append(_medium(kind, url, obj.get("duration")))
    for url in VIDEO_SOURCES(article) if in_article else []:
        found.append(_medium("video", url, None))
    for text in VIDEO_SCRIPTS(article) if in_article else []:
        for doc in json_documents(text):
            if isinstance(doc, dict):
                found.append(
                    _medium("video", _first_source(doc) or doc.get("url"), doc.get("duration"))
                )
    return _merge(found)


def glued_player_media(markup: str) -> list[dict[str, Any]]:
    """Video and audio players of an archive file's glued HTML (bounded scans, linear)."""
    found = []
    for match in _GLUED_PLAYER.finditer(markup):
        source = _GLUED_SOURCE.search(markup, match.end(), match.end() + _GLUED_WINDOW)
        if source:
            kind = "audio" if match.group(1) == "audio" else "video"
            found.append(_medium(kind, html.unescape(source.group(1)), None))
    return _merge(found)


def duration_seconds(value: Any) -> int | None:
    """Seconds from a number, a numeric string or an ISO 8601 duration (`PT7M49S`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    match = _ISO_DURATION.match(value)
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return int(days * 86400 + hours * 3600 + minutes * 60 + seconds)


def _episode_audio(buttons: list[Any]) -> list[str]:
    """``button.m-feed-sub__audio > script`` texts."""
    return [
        script.text or ""
        for button in buttons
        if "m-feed-sub__audio" in button.get("class", "")
        for script in button.iterchildren("script")
    ]


def _is_live(doc: dict[str, Any]) -> bool:
    return doc.get("type") == "live" or str(doc.get("mediaId", "")).startswith("direct_")


def _first_source(doc: dict[str, Any]) -> str | None:
    sources = doc.get("sources")
    if isinstance(sources, list) and sources and isinstance(sources[0], dict):
        return sources[0].get("url")
    return None


def _medium(kind: str, url: Any, duration: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "url": url.strip() if isinstance(url, str) else None,
        "duration": duration_seconds(duration),
    }


def _merge(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per URL; a duration known from any source is kept."""
    merged: dict[str, dict[str, Any]] = {}
    for medium in found:
        url = medium["url"]
        if not url or not url.startswith(("http://", "https://")):
            continue
        if url not in merged:
            merged[url] = medium
        elif merged[url]["duration"] is None:
            merged[url]["duration"] = medium["duration"]
    return list(merged.values())
