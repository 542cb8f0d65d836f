"""The ``rfi_cn`` spider's arguments (``-a name=value``), parsed and validated once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rfi_crawler import urls
from rfi_crawler.config import ConfigError

# A URL carries the Paris date of publication, which can be a day off the UTC date the
# window is judged by; pages within a day of the window are fetched, then judged exactly.
URL_DATE_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class DateWindow:
    since: date | None = None
    until: date | None = None

    def may_contain(self, url_date: date | None) -> bool:
        """Whether a page dated ``url_date`` by its URL is worth downloading."""
        if url_date is None:
            return True
        if self.since and url_date < self.since - URL_DATE_MARGIN:
            return False
        return not (self.until and url_date > self.until + URL_DATE_MARGIN)

    def contains(self, published_at: str | None) -> bool:
        """Whether a record published at this UTC ISO time is inside the window (inclusive)."""
        if self.since is None and self.until is None:
            return True
        if not published_at:
            return False
        day = datetime.fromisoformat(published_at).date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )


@dataclass(frozen=True)
class SpiderArguments:
    urls: tuple[str, ...] = ()
    related_depth: int = 2
    window: DateWindow = DateWindow()
    refresh: bool | None = None  # None: RFI_REFRESH decides

    @classmethod
    def parse(
        cls,
        urls: str | None = None,
        related_depth: str | int | None = None,
        since: str | None = None,
        until: str | None = None,
        refresh: str | None = None,
        base_url: str | None = None,
    ) -> SpiderArguments:
        window = DateWindow(_day("since", since), _day("until", until))
        if window.since and window.until and window.since > window.until:
            raise ConfigError(f"since ({since}) is after until ({until})")
        return cls(
            urls=_content_urls(urls, base_url),
            related_depth=_depth(related_depth),
            window=window,
            refresh=_flag("refresh", refresh),
        )


def _flag(name: str, value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {value!r}")


def _day(name: str, value: str | None) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{name} must be a date YYYY-MM-DD, not {value!r}") from None


def _depth(value: str | int | None) -> int:
    if value in (None, ""):
        return SpiderArguments.related_depth
    try:
        depth = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"related_depth must be a whole number, not {value!r}") from None
    if depth < 0:
        raise ConfigError(f"related_depth must be 0 or more, not {depth}")
    return depth


def _content_urls(value: str | None, base_url: str | None) -> tuple[str, ...]:
    """Comma-separated absolute or site-relative URLs, each an RFI content page."""
    if not value:
        return ()
    found, rejected = [], []
    for raw in (part.strip() for part in value.split(",")):
        if not raw:
            continue
        url = urls.canonical_content_url(
            raw, urls.SITE_ORIGIN + "/", base_url, editions=("cn", "tw")
        )
        (found if url else rejected).append(url or raw)
    if rejected:
        raise ConfigError(
            f"not RFI Chinese content URLs: {rejected}; expected e.g. "
            "https://www.rfi.fr/cn/<section>/<YYYYMMDD>-<slug> or /cn/<section>/…"
        )
    return tuple(dict.fromkeys(found))
