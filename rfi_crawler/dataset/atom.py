"""Change events as an Atom 1.0 feed (RFC 4287), so people can subscribe to RFI's edits."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any
from xml.etree import ElementTree

from rfi_crawler.dataset.edits import web_url

ATOM = "http://www.w3.org/2005/Atom"
# Entry ids are stable: the same event gives the same id in every build of the feed.
EVENT_NAMESPACE = uuid.UUID("6f1c1d55-5a0e-4d4e-9a3b-0c1e6d1a7f42")
EPOCH = "1970-01-01T00:00:00+00:00"
# What XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/FFFF), which
# ElementTree writes as they are: the feed would not parse.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return NOT_XML.sub("\ufffd", text)


def _element(parent: ElementTree.Element, name: str, text: str | None = None, **attrs: str):
    clean = {key: _xml_text(value) for key, value in attrs.items()}
    child = ElementTree.SubElement(parent, f"{{{ATOM}}}{name}", clean)
    if text is not None:
        child.text = _xml_text(text)
    return child


def atom_feed(events: Iterable[dict[str, Any]], *, title: str, feed_id: str) -> bytes:
    """The feed, newest event first; ``updated`` is the newest event's time (the epoch
    when there is none), so the same events always give the same bytes."""
    ElementTree.register_namespace("", ATOM)
    ordered = sorted(events, key=lambda e: (e.get("detected_at") or "", e.get("url") or ""))
    ordered.reverse()
    feed = ElementTree.Element(f"{{{ATOM}}}feed")
    _element(feed, "id", feed_id)
    _element(feed, "title", title)
    _element(feed, "updated", ordered[0].get("detected_at") or EPOCH if ordered else EPOCH)
    author = _element(feed, "author")
    _element(author, "name", "rfi-crawler")
    _element(feed, "generator", "rfi-crawler rfi-dataset edits")
    for event in ordered:
        _entry(feed, event)
    ElementTree.indent(feed)
    return ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _entry(feed: ElementTree.Element, event: dict[str, Any]) -> None:
    entry = _element(feed, "entry")
    key = f"{event.get('url')}|{event['kind']}|{event.get('version')}|{event.get('detected_at')}"
    _element(entry, "id", f"urn:uuid:{uuid.uuid5(EVENT_NAMESPACE, key)}")
    _element(entry, "title", f"{event['kind']}: {event.get('title') or event.get('url')}")
    _element(entry, "updated", event.get("detected_at") or EPOCH)
    if event.get("published_at"):
        _element(entry, "published", event["published_at"])
    if web_url(event.get("url")):  # any other URL stays in the title, as text
        _element(entry, "link", href=event["url"])
    _element(entry, "summary", _summary(event))


def _summary(event: dict[str, Any]) -> str:
    if event["kind"] != "edited":
        return f"{event['kind']} (detected {event.get('detected_at')})"
    changes = [
        f"{name} +{event['chars'][name]['added']} −{event['chars'][name]['removed']}"
        if name in event.get("chars", {})
        else name
        for name in event.get("fields", [])
    ]
    return f"version {event.get('previous_version')} → {event.get('version')}: " + ", ".join(
        changes
    )
