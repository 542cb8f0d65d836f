"""Pure URL rules for www.rfi.fr: what is content, canonical forms, origins, dates, ids."""

from __future__ import annotations

import codecs
import hashlib
import re
from datetime import date
from urllib.parse import quote, urljoin, urlsplit

SITE_ORIGIN = "https://www.rfi.fr"
# chinese.rfi.fr served the same tree in 2022 (RFI_SITE.md): its /cn/… pages are the
# www.rfi.fr pages, so its URLs map onto www.rfi.fr like rfi.fr's do.
SITE_HOSTS = frozenset({"www.rfi.fr", "rfi.fr", "chinese.rfi.fr"})
# The pre-2020 platform (other templates, other URLs): left alone, never mapped or fetched;
# ``legacy_platform_url`` lets callers count what they skip.
LEGACY_HOSTS = frozenset({"cn.rfi.fr", "trad.cn.rfi.fr"})
#: Editions we can read, with the language each is written in.
EDITION_LANGUAGES = {"cn": "zh-Hans", "tw": "zh-Hant"}
PROGRAMME_SEGMENT = "专栏检索"
# 2021 pages under /cn/ also linked traditional-script twins: /cn/專欄檢索/要聞分析/…
PROGRAMME_SEGMENTS = frozenset({PROGRAMME_SEGMENT, "專欄檢索"})
TAG_SEGMENT = "关键词"
LEGACY_TAG_SEGMENT = "tag"  # /cn/tag/中国篇/, still linked in 2021
ARCHIVE_SEGMENT = "档案资料库"
# One-segment /cn/ pages that are not content (RFI_SITE.md and the seed corpus): static
# pages, the video listing, feeds, and the header's sections written without a slash.
STATIC_PAGES = frozenset(
    {
        "直播",
        "应用",
        "我们是谁",
        "如何收听法广",
        "联系我们",
        "法广合作伙伴",
        "视频",
        "視頻",
        "滚动新闻",
        "rss",
        "subscribe",
        "site.manifest",
        "apprendre-enseigner",
    }
)
_NAV = """中国 港澳台 法国 亚洲 非洲 美洲 欧洲 中东 人权 政治 经贸 社会 生态 科技与文化
最新消息 国际 体育 法新社经济 健康 名流 特别专题 再次收听 专栏检索
滚动新闻 国际报道 视频 档案资料库 关键词 作者
中國 港澳臺 歐洲 專欄檢索 視頻"""
NAV_SECTIONS = frozenset(_NAV.split())
# Segments under /cn/ whose subtree holds no content page (only listings of them).
NON_CONTENT_SEGMENTS = frozenset({TAG_SEGMENT, LEGACY_TAG_SEGMENT, ARCHIVE_SEGMENT, "作者"})

# RFI_SITE.md: a path is content iff, unquoted, it matches this (checked on every real page).
_CONTENT_PATH = re.compile(r"^/(?P<edition>cn|tw)/(?:[^/]+/){1,2}(?P<date>\d{8})-[^/]+/?$")
# Sections are one segment with a trailing slash (`/cn/政治/`); static pages have none.
_SECTION_PATH = re.compile(r"^/cn/[^/]+/$")
_TAG_PATH = re.compile(rf"^/cn/(?:{TAG_SEGMENT}|{LEGACY_TAG_SEGMENT})/[^/]+/?$")
# AFP wire briefs of 2021 had no section and no date (seed corpus):
# /cn/亚马逊涉垄断-义大利反托拉斯当局开罚11亿欧元, /cn/欧股收高.
# A single segment holding a CJK character, not a known page.
_DATELESS_PATH = re.compile(r"^/cn/(?P<slug>[^/]*[\u3400-\u9fff][^/]*)$")
_SLASHES = re.compile(r"/{2,}")
# Unreserved characters stay as they are; everything else is percent-encoded, as the
# site's own canonical links are (`/cn/%E6%94%BF%E6%B2%BB/20251130-...-t-dome...`).
_PATH_SAFE = "/-._~"
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A root-relative href already in canonical form (unreserved characters and upper-case
# escapes, no empty segment, no escaped slash) is its own canonical path: most links are.
# Checked as two cheap scans (the characters, then each ``%``) rather than one pattern
# alternating per character, at a third of the cost on a 300-character link.
_CANONICAL_CHARS = re.compile(r"(?:/[A-Za-z0-9\-._~%]+)+/?")
_NOT_CANONICAL_ESCAPE = re.compile(r"%(?![0-9A-F]{2})|%2F")
# An escaped unreserved character (``%41`` for ``A``): quoting the decoded path would
# write it plainly, so such a path is not the quoted form of itself.
_ESCAPED_UNRESERVED = re.compile(r"%(?:[346][1-9A-F]|[357][0-9A]|2[DE]|5F|7E|3[0-9])")


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
    if "%" not in path:
        pass
    elif path.isascii() and "\\" not in path and not _MALFORMED_ESCAPE.search(path):
        # Most paths: ASCII, every ``%`` a well-formed escape. One C pass over ``\xNN``
        # escapes instead of a regex callback per run of escapes. The same result: a
        # character's UTF-8 bytes never span a literal (ASCII) character, so the whole
        # decodes iff each run does.
        try:
            path = codecs.escape_decode(path.replace("%", "\\x"))[0].decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        try:
            path = _ESCAPES.sub(_decode_escapes, path)
        except (UnicodeDecodeError, ValueError):
            return None
    if "//" in path:
        path = _SLASHES.sub("/", path)
    return path or "/"


def _decode_escapes(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group(0).replace("%", "")).decode("utf-8")


def is_content_path(path: str, editions: tuple[str, ...] = ("cn",)) -> bool:
    """True for article, programme-episode, video and wire pages of the given editions.

    Dated paths (``/cn/<section>/<YYYYMMDD>-<slug>``, traditional-script sections and
    ``/cn/视频/`` included) and the dateless wire briefs of 2021 (``/cn/<slug>``).
    """
    if has_dot_segment(path):
        return False
    match = _CONTENT_PATH.match(path)
    if match:
        segments = path.split("/")
        return match.group("edition") in editions and segments[2] not in NON_CONTENT_SEGMENTS
    return "cn" in editions and is_dateless_wire_path(path)


def has_dot_segment(path: str) -> bool:
    """A ``.`` or ``..`` segment (after unquoting): such a link is fetched as another path
    than it names (``/cn/%2e%2e/%2e%2e/20251130-x`` is ``/20251130-x``); RFI never links
    one, so it is refused rather than resolved."""
    return any(segment in (".", "..") for segment in path.split("/"))


def is_dateless_wire_path(path: str) -> bool:
    """``/cn/<slug>`` with no date: a 2021 wire brief, unless it is a known page.

    [guess] the set of one-segment static pages is what we have seen; an unknown one would
    be fetched and end as ``failed/no_article``, not exported.
    """
    match = _DATELESS_PATH.match(path)
    if not match:
        return False
    slug = match.group("slug")
    return slug not in STATIC_PAGES and slug not in NAV_SECTIONS


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
    if _CONTENT_PATH.match(path) and path.split("/")[2] not in NON_CONTENT_SEGMENTS:
        return path.rstrip("/")
    return path


def canonical_url(url: str, base_url: str | None = None) -> str | None:
    """``https://www.rfi.fr`` + the percent-encoded path, no query or fragment; None off-site."""
    path = site_path(url, base_url)
    return None if path is None else url_of_path(path)


def url_of_path(path: str) -> str:
    """The canonical URL of an unquoted site path."""
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
    return None if path is None else url_of_path(path)


def canonical_content_url(
    href: str, page_url: str, base_url: str | None = None, editions: tuple[str, ...] = ("cn",)
) -> str | None:
    """Canonical URL of a link if it points at a content page of ``editions``, else None."""
    href = href.strip()
    if is_canonical_form(href):
        return _content_url_as_is(href, editions)
    if href.startswith(SITE_ORIGIN + "/"):
        # An absolute link to the site, its path in canonical form: what the general way
        # below gives (resolving, splitting, unquoting and quoting again), at less cost.
        rest = href[len(SITE_ORIGIN) :]
        if is_canonical_form(rest) and not _ESCAPED_UNRESERVED.search(rest):
            return _content_url_as_is(rest, editions)
    path = link_path(href, page_url, base_url)
    if path is None or not is_content_path(path, editions):
        return None
    return SITE_ORIGIN + quote_path(path.rstrip("/"))


def _content_url_as_is(path: str, editions: tuple[str, ...]) -> str | None:
    """The content URL of a path already encoded as the site encodes it (decoded only to
    check it is UTF-8), or None."""
    decoded = unquote_path(path)
    if decoded is None or not is_content_path(decoded, editions):
        return None
    return SITE_ORIGIN + path.rstrip("/")


def is_canonical_form(path: str) -> bool:
    """Unreserved characters and upper-case escapes (never ``%2F``) in non-empty segments,
    each after a ``/``; a trailing ``/`` allowed."""
    return bool(_CANONICAL_CHARS.fullmatch(path)) and not _NOT_CANONICAL_ESCAPE.search(path)


def legacy_platform_url(url: str) -> bool:
    """True for a URL of the pre-2020 platform (cn.rfi.fr, trad.cn.rfi.fr): never followed."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return False
    return host.lower() in LEGACY_HOSTS


def is_listing_or_page_path(path: str) -> bool:
    """Known non-content /cn/ paths: sections and their pages, hubs, authors, archives,
    static pages, feeds."""
    segments = path.strip("/").split("/")
    if path in ("/cn", "/cn/") or len(segments) < 2 or segments[0] != "cn":
        return True
    if segments[1] in NON_CONTENT_SEGMENTS or path.endswith("/rss"):
        return True
    if len(segments) == 2:
        return path.endswith("/") or segments[1] in STATIC_PAGES or segments[1] in NAV_SECTIONS
    # /cn/<section>/<n>/ and /cn/专栏检索/<programme>/ (and its pages)
    return segments[-1].isdigit() or (path.endswith("/") and not _CONTENT_PATH.match(path))


def archive_item_url(url: str, page_url: str, base_url: str | None = None) -> str | None:
    """Canonical URL of an item that a day page or a monthly content sitemap lists.

    The archive is the authority on what is an article (issue 12): any /cn/ path on the
    site that is not a known listing or static page is an item, even where
    ``is_content_path`` would reject it (an old URL form we have not met yet).
    """
    path = link_path(url, page_url, base_url)
    if (
        path is None
        or not path.startswith("/cn/")
        or has_dot_segment(path)
        or is_listing_or_page_path(path)
    ):
        return None
    return SITE_ORIGIN + quote_path(path.rstrip("/"))


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, one spelling for one origin (scheme and
    host in lower case, an IPv6 host in brackets, the scheme's default port left out), or
    None: no host, userinfo, another scheme, a port that is none, no URL at all."""
    try:  # urlsplit raises on a bad IPv6 host (``http://[::1``), .port on a bad port
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"


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
    if len(segments) < 3 or segments[1] in PROGRAMME_SEGMENTS:
        return None
    return segments[1]


def programme_in_path(path: str) -> str | None:
    """``<programme>`` of ``/cn/专栏检索/<programme>/<date>-<slug>``."""
    segments = path.strip("/").split("/")
    if len(segments) == 4 and segments[1] in PROGRAMME_SEGMENTS:
        return segments[2]
    return None


def derived_id(canonical: str) -> str:
    """Stable id for pages without a ``#datalayer`` content id.

    ``RFI-URL-`` + the first 20 hex digits of sha256 over the canonical URL: the same
    article always gets the same id, whichever form of its URL was met.
    """
    return "RFI-URL-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20].upper()
