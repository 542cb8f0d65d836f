"""Pure URL rules for www.rfi.fr: what is content, canonical forms, origins, dates, ids."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from urllib.parse import quote, urljoin, urlsplit

SITE_ORIGIN = "https://www.rfi.fr"
SITE_HOSTS = frozenset({"www.rfi.fr", "rfi.fr"})
#: Editions we can read, with the language each is written in.
EDITION_LANGUAGES = {"cn": "zh-Hans", "tw": "zh-Hant"}
PROGRAMME_SEGMENT = "专栏检索"
TAG_SEGMENT = "关键词"

# RFI_SITE.md: a path is content iff, unquoted, it matches this (checked on every real page).
_CONTENT_PATH = re.compile(r"^/(?P<edition>cn|tw)/(?:[^/]+/){1,2}(?P<date>\d{8})-[^/]+/?$")
# Sections are one segment with a trailing slash (`/cn/政治/`); static pages have none.
_SECTION_PATH = re.compile(r"^/cn/[^/]+/$")
_TAG_PATH = re.compile(rf"^/cn/{TAG_SEGMENT}/[^/]+/?$")
_SLASHES = re.compile(r"/{2,}")
# Unreserved characters stay as they are; everything else is percent-encoded, as the
# site's own canonical links are (`/cn/%E6%94%BF%E6%B2%BB/20251130-...-t-dome...`).
_PATH_SAFE = "/-._~"
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# A root-relative href already in canonical form (unreserved characters and upper-case
# escapes, no empty segment, no escaped slash) is its own canonical path: most links are.
_CANONICAL_FORM = re.compile(r"(?:/(?:[A-Za-z0-9\-._~]|%(?!2F)[0-9A-F]{2})+)+/?")


def site_path(url: str, base_url: str | None = None) -> str | None:
    """The unquoted, slash-collapsed path of an http(s) URL on the RFI site, else None.

    URLs on ``base_url``'s host (a local replica or mirror) count as the site too.
    Paths that are not valid percent-encoded UTF-8 give None.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    host = parts.netloc.lower()
    if host not in SITE_HOSTS and (base_url is None or host != urlsplit(base_url).netloc.lower()):
        return None
    return unquote_path(parts.path)


def unquote_path(path: str) -> str | None:
    """Decode percent-escapes as UTF-8 and collapse ``//``; None if not valid UTF-8."""
    try:
        path = _ESCAPES.sub(_decode_escapes, path)
    except (UnicodeDecodeError, ValueError):
        return None
    return _SLASHES.sub("/", path) or "/"


def _decode_escapes(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group(0).replace("%", "")).decode("utf-8")


def is_content_path(path: str, editions: tuple[str, ...] = ("cn",)) -> bool:
    """True for article, programme-episode and wire pages of the given editions."""
    match = _CONTENT_PATH.match(path)
    return bool(match) and match.group("edition") in editions


def is_section_path(path: str) -> bool:
    return bool(_SECTION_PATH.match(path)) and path != "/cn/"


def is_tag_path(path: str) -> bool:
    return bool(_TAG_PATH.match(path))


def listing_page_number(path: str, listing_path: str) -> int | None:
    """The page number of ``path`` in the pager of ``listing_path`` (its first page is 1).

    The platform pages listings as ``/cn/中国/2/`` (RFI_SITE.md: a guess, so it is read
    from the pager's own links rather than built).
    """
    if path.rstrip("/") == listing_path.rstrip("/"):
        return 1
    match = re.fullmatch(re.escape(listing_path.rstrip("/")) + r"/(\d{1,6})/?", path)
    return int(match.group(1)) if match else None


def quote_path(path: str) -> str:
    return quote(path, safe=_PATH_SAFE)


def canonical_path(path: str) -> str:
    """Content paths lose their trailing slash; other paths keep theirs."""
    if _CONTENT_PATH.match(path):
        return path.rstrip("/")
    return path


def canonical_url(url: str, base_url: str | None = None) -> str | None:
    """``https://www.rfi.fr`` + the percent-encoded path, no query or fragment; None off-site."""
    path = site_path(url, base_url)
    if path is None:
        return None
    return SITE_ORIGIN + quote_path(canonical_path(path))


def link_path(href: str, page_url: str, base_url: str | None = None) -> str | None:
    """The unquoted site path a link found on ``page_url`` points at; None off-site."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    if href.startswith("/") and not href.startswith("//"):
        # Root-relative links are most of a page's links: no need to resolve them.
        return unquote_path(href.split("#", 1)[0].split("?", 1)[0])
    try:
        absolute = urljoin(page_url, href)
    except ValueError:
        return None
    return site_path(absolute, base_url)


def resolve_link(href: str, page_url: str, base_url: str | None = None) -> str | None:
    """Canonical URL of a link found on ``page_url``, or None when it leaves the site."""
    path = link_path(href, page_url, base_url)
    return None if path is None else SITE_ORIGIN + quote_path(canonical_path(path))


def canonical_content_url(
    href: str, page_url: str, base_url: str | None = None, editions: tuple[str, ...] = ("cn",)
) -> str | None:
    """Canonical URL of a link if it points at a content page of ``editions``, else None."""
    href = href.strip()
    if _CANONICAL_FORM.fullmatch(href):
        # Already encoded as the site encodes: decode only to check it is UTF-8.
        path = unquote_path(href)
        return SITE_ORIGIN + href.rstrip("/") if path and is_content_path(path, editions) else None
    path = link_path(href, page_url, base_url)
    if path is None or not is_content_path(path, editions):
        return None
    return SITE_ORIGIN + quote_path(path.rstrip("/"))


def to_origin(canonical: str, base_url: str) -> str:
    """Where to request a canonical www.rfi.fr URL: the same path on ``base_url``."""
    parts = urlsplit(canonical)
    return base_url.rstrip("/") + parts.path


def path_of(canonical: str) -> str:
    """The unquoted path of a canonical URL."""
    return unquote_path(urlsplit(canonical).path) or "/"


def edition_of(path: str) -> str | None:
    segment = path.split("/")[1] if path.count("/") >= 2 else ""
    return segment if segment in EDITION_LANGUAGES else None


def date_in_path(path: str) -> date | None:
    """The ``YYYYMMDD`` date a content path carries (Paris date of first publication)."""
    match = _CONTENT_PATH.match(path)
    if not match:
        return None
    raw = match.group("date")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None


def section_in_path(path: str) -> str | None:
    """The first segment of a content path, unless it is the programme index."""
    segments = path.strip("/").split("/")
    if len(segments) < 3 or segments[1] == PROGRAMME_SEGMENT:
        return None
    return segments[1]


def programme_in_path(path: str) -> str | None:
    """``<programme>`` of ``/cn/专栏检索/<programme>/<date>-<slug>``."""
    segments = path.strip("/").split("/")
    if len(segments) == 4 and segments[1] == PROGRAMME_SEGMENT:
        return segments[2]
    return None


def derived_id(canonical: str) -> str:
    """Stable id for pages without a ``#datalayer`` content id.

    ``RFI-URL-`` + the first 20 hex digits of sha256 over the canonical URL: the same
    article always gets the same id, whichever form of its URL was met.
    """
    return "RFI-URL-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20].upper()
