"""The ``rfi_cn`` spider's arguments (``-a name=value``), parsed and validated once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import safe_url_string

from rfi_crawler import urls
from rfi_crawler.config import FIRST_YEAR, LAST_YEAR, ConfigError, check_names, parse_flag
from rfi_crawler.processors import PARIS

# A URL carries the Paris date of publication, which can be a day off the UTC date the
# window is judged by; pages within a day of the window are fetched, then judged exactly.
URL_DATE_MARGIN = timedelta(days=1)
MAX_DEPTH = 100
# The documented arguments, and those Scrapyd passes to every job itself. Any other name,
# ``_``-prefixed ones included, is refused: Scrapy would set it as a spider attribute.
ARGUMENTS = ("urls", "related_depth", "since", "until", "refresh", "archive")
SCRAPYD_ARGUMENTS = ("_job", "_version")


@dataclass(frozen=True)
class DateWindow:
    since: date | None = None
    until: date | None = None

    @property
    def unbounded(self) -> bool:
        return self.since is None and self.until is None

    def may_contain(self, url_date: date | None) -> bool:
        """Whether a page dated ``url_date`` by its URL is worth downloading."""
        if url_date is None:
            return True
        if self.since and url_date < self.since - URL_DATE_MARGIN:
            return False
        return not (self.until and url_date > self.until + URL_DATE_MARGIN)

    def contains(self, published_at: str | None) -> bool:
        """Whether a record published at this UTC ISO time is inside the window (inclusive)."""
        if self.unbounded:
            return True
        if not published_at:
            return False
        day = datetime.fromisoformat(published_at).date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class SpiderArguments:
    urls: tuple[str, ...] = ()
    related_depth: int = 2
    window: DateWindow = DateWindow()
    refresh: bool | None = None  # None: RFI_REFRESH decides
    archive: bool = False  # backfill the window through the site's archive (issue 12)

    @classmethod
    def from_kwargs(
        cls,
        kwargs: Mapping[str, Any],
        base_url: str | None,
        *,
        backfill: bool = False,
        url_limit: int = 0,
    ) -> SpiderArguments:
        """The spider's ``-a`` arguments, names checked first (a typo such as ``sinse``
        would otherwise crawl unfiltered). ``backfill``: the ``rfi_cn_backfill`` spider,
        for which ``archive=1`` is implied; ``url_limit``: Scrapy's URLLENGTH_LIMIT, which
        a ``urls`` page's request URL must not pass (0: none)."""
        check_names("spider argument", kwargs, ARGUMENTS + SCRAPYD_ARGUMENTS)
        for name, value in kwargs.items():
            # A byte the command line could not decode comes as a lone surrogate: the run
            # file, the manifest and the store could not hold it (_job names the run).
            if isinstance(value, str) and not _is_text(value):
                raise ConfigError(f"-a {name}={value!r} is not accepted: expected UTF-8 text")
        given = {k: kwargs[k] for k in ARGUMENTS if k in kwargs}
        if backfill:
            if _flag("archive", given.get("archive", "1")) is False:
                raise ConfigError(
                    "archive=0 is not accepted by rfi_cn_backfill (it always backfills): "
                    "leave archive out, or crawl with rfi_cn"
                )
            given["archive"] = "1"
        return cls.parse(**given, base_url=base_url, url_limit=url_limit)

    @classmethod
    def parse(
        cls,
        urls: str | None = None,
        related_depth: str | int | None = None,
        since: str | None = None,
        until: str | None = None,
        refresh: str | None = None,
        archive: str | None = None,
        base_url: str | None = None,
        url_limit: int = 0,
    ) -> SpiderArguments:
        window = DateWindow(_day("since", since), _day("until", until))
        if window.since and window.until and window.since > window.until:
            raise ConfigError(
                f"since={since!r} is after until={until!r}: expected since on or before until"
            )
        backfill = bool(_flag("archive", archive))
        if backfill and window.since is None:
            raise ConfigError(
                "archive=1 needs since=YYYY-MM-DD: the first day to backfill (until "
                "defaults to today in Paris)"
            )
        if backfill and window.until is None and window.since > datetime.now(PARIS).date():
            raise ConfigError(
                f"since={since!r} is after today in Paris, until's default: expected a day"
                " up to today, or until=YYYY-MM-DD as well"
            )
        if backfill and urls is not None:
            raise ConfigError(
                "archive=1 and urls= are not accepted together: a backfill finds its "
                "articles through the archive; give one or the other"
            )
        return cls(
            urls=_content_urls(urls, base_url, url_limit),
            related_depth=_depth(related_depth),
            window=window,
            refresh=_flag("refresh", refresh),
            archive=backfill,
        )


def _flag(name: str, value: str | None) -> bool | None:
    return None if value is None else parse_flag(name, value)


def _day(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", str(value)):
            raise ValueError
        day = date.fromisoformat(str(value))
    except ValueError:
        day = None
    if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ConfigError(
            f"{name}={value!r} is not accepted: expected a date YYYY-MM-DD of the years "
            f"{FIRST_YEAR} to {LAST_YEAR} (e.g. 2025-11-01)"
        )
    return day


def _depth(value: str | int | None) -> int:
    if value is None:
        return SpiderArguments.related_depth
    # ASCII digits only: int() reads other scripts' digits too (٣ as 3), and ``1_0``.
    text = str(value).strip()
    depth = int(text) if re.fullmatch(r"[0-9]{1,9}", text) else -1
    if not 0 <= depth <= MAX_DEPTH:
        raise ConfigError(
            f"related_depth={value!r} is not accepted: expected a whole number from 0 to "
            f"{MAX_DEPTH}"
        )
    return depth


def _content_urls(value: str | None, base_url: str | None, limit: int = 0) -> tuple[str, ...]:
    """Comma-separated absolute or site-relative URLs, each an RFI content page whose
    request URL is at most ``limit`` characters (0: any)."""
    if value is None:
        return ()
    found, rejected = [], []
    for raw in (part.strip() for part in str(value).split(",")):
        if not raw:
            continue
        resolved = _without_dot_segments(raw)
        url = resolved and urls.canonical_content_url(
            resolved, urls.SITE_ORIGIN + "/", base_url, editions=("cn", "tw")
        )
        (found if url else rejected).append(url or raw)
    if rejected or not found:
        raise ConfigError(
            f"urls={value!r} is not accepted: not RFI Chinese content URLs: "
            f"{rejected or 'none given'}; expected comma-separated URLs such as "
            "https://www.rfi.fr/cn/<section>/<YYYYMMDD>-<slug> or /cn/<section>/…"
        )
    long = [url for url in found if limit and _request_length(url, base_url) > limit]
    if long:
        # Scrapy's UrlLengthMiddleware would drop the request: the crawl would find nothing.
        shown = [url if len(url) <= 100 else url[:100] + "…" for url in long]
        raise ConfigError(
            f"urls= is not accepted: longer than URLLENGTH_LIMIT={limit} characters as "
            f"requested: {shown}; expected shorter URLs, or a higher URLLENGTH_LIMIT"
        )
    return tuple(dict.fromkeys(found))


def _request_length(url: str, base_url: str | None) -> int:
    """The length of the URL Scrapy would request for a canonical one."""
    return len(safe_url_string(urls.to_origin(url, base_url) if base_url else url))


def _without_dot_segments(url: str) -> str | None:
    """The URL with ``.``/``..`` segments resolved (RFC 3986 5.2.4) after percent-decoding,
    so ``/cn/%2e%2e/%2e%2e/20251130-x`` is judged as the ``/20251130-x`` it would fetch;
    None when the path is not valid percent-encoded UTF-8."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    path = urls.unquote_path(parts.path)
    if path is None:
        return None
    segments = path.split("/")
    if not any(segment in (".", "..") for segment in segments):
        return url
    kept: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")
    resolved = "/" + "/".join(kept)
    return urlunsplit((parts.scheme, parts.netloc, urls.quote_path(resolved), "", ""))
