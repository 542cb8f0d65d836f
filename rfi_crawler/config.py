"""Every ``RFI_*`` setting, read and validated once into a frozen object."""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.utils.project import project_data_dir

from rfi_crawler.recheck import (
    DEFAULT_SCHEDULE,
    format_schedule,
    parse_schedule,
    refresh_days_schedule,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

START_POINTS = ("homepage", "sections", "rss", "sitemap")
COMPRESSIONS = (None, "gzip")
REAL_ORIGIN = "https://www.rfi.fr"
# Every duration is a finite number of seconds in (0, MAX_SECONDS]: a typo such as
# ``inf`` or ``nan`` must not make a pause endless or a wait unbounded.
MAX_SECONDS = 3600.0
# Dates and times given (since, until, RFI_RECHECK_NOW) lie in these years: far from
# datetime's 1 and 9999, so the margins added to them (a day around the window, a time
# zone, twice the longest re-check age: 2 × 99999 days, ~548 years) never overflow; wide
# enough for any date a crawl of the site can mean.
FIRST_YEAR, LAST_YEAR = 1900, 2999


class ConfigError(ValueError):
    """A setting or spider argument has a value the crawler cannot use."""


def default_data_dir(base_url: str = REAL_ORIGIN) -> Path:
    """``<project>/.scrapy/rfi-crawler`` inside a Scrapy project; else the user's data dir
    (``$XDG_DATA_HOME/rfi-crawler`` or ``~/.local/share/rfi-crawler``), never the current
    directory of a job (Scrapyd runs eggs from its own working directory).

    Only the real site's data lives there (the folder of every earlier release, so an
    upgrade re-exports nothing); any other origin (a replica, a mirror) gets its own
    ``origins/<scheme>-<host>-<port>`` folder inside it, so demo records never enter the
    real store or output.
    """
    try:
        base = Path(project_data_dir()).resolve() / "rfi-crawler"
    except NotConfigured:
        home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        base = Path(home) / "rfi-crawler"
    if base_url.rstrip("/") == REAL_ORIGIN:
        return base
    return base / "origins" / origin_folder(base_url)


def origin_folder(base_url: str) -> str:
    """A file name for an origin: ``http://127.0.0.1:8000`` → ``http-127.0.0.1-8000``."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = re.sub(r"[^a-z0-9.-]", "_", parts.hostname or "")
    return f"{parts.scheme}-{host}-{port}"


@dataclass(frozen=True)
class RfiConfig:
    """The defaults below are the only place each default is written (README states them)."""

    base_url: str = REAL_ORIGIN
    max_listing_pages: int = 3
    max_sitemaps: int = 1000
    follow_tags: bool = False
    contact: str = ""
    start_points: tuple[str, ...] = START_POINTS
    data_dir: Path | None = None  # default: default_data_dir(base_url)
    state_uri: str = ""  # default: sqlite file in data_dir
    output_dir: Path | None = None  # default: data_dir / "output"
    output_compression: str | None = None
    recheck_schedule: str = DEFAULT_SCHEDULE  # validated text; see ``schedule``
    recheck_max_per_run: int = 100
    recheck_now: datetime | None = None  # None: the system clock
    refresh_days: int | None = None  # deprecated alias of recheck_schedule
    refresh: bool = False
    sync_every: int = 25
    sync_seconds: float = 5.0
    block_threshold: int = 20
    backoff_base: float = 5.0
    backoff_max: float = 300.0
    backoff_retries: int = 2
    drift_threshold: float = 0.05
    drift_min_pages: int = 20
    state_timeout: float = 60.0
    warc_dir: Path | None = None  # WARC capture is off unless a folder is given
    warc_max_mb: int = 1000
    archive_days_in_flight: int = 4

    def __post_init__(self) -> None:
        # Derived defaults live here so that RfiConfig(data_dir=…) alone is consistent.
        if self.data_dir is None:
            object.__setattr__(self, "data_dir", default_data_dir(self.base_url))
        if not self.state_uri:
            object.__setattr__(self, "state_uri", f"sqlite:///{self.data_dir / 'state.sqlite3'}")
        if self.output_dir is None:
            object.__setattr__(self, "output_dir", self.data_dir / "output")

    @property
    def schedule(self) -> tuple[timedelta, ...]:
        """The re-check ages (RFI_RECHECK_SCHEDULE, or what ``from_settings`` read the
        deprecated RFI_REFRESH_DAYS as)."""
        return () if self.recheck_schedule == "off" else parse_schedule(self.recheck_schedule)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RfiConfig:
        """Read every ``RFI_*`` setting; an unset one keeps its default. Raises ConfigError
        naming the setting, the value given and what is accepted."""
        check_names("setting", (name for name in settings if name.startswith("RFI_")), SETTINGS)
        values: dict[str, Any] = {}
        for name, (field_name, parse) in SETTINGS.items():
            raw = settings.get(name)
            if raw is not None:
                values[field_name] = parse(name, raw)
        days = values.get("refresh_days")
        if days is not None and settings.get("RFI_RECHECK_SCHEDULE") is None:
            # The deprecated alias, unless the schedule itself is given (whatever its value).
            values["recheck_schedule"] = format_schedule(refresh_days_schedule(days))
        config = cls(**{k: v for k, v in values.items() if v is not None})
        config.validate()
        return config

    def validate(self) -> None:
        """Rules between settings (each value alone was checked as it was read)."""
        _origin("RFI_BASE_URL", self.base_url)
        if self.backoff_base > self.backoff_max:
            raise ConfigError(
                f"RFI_BACKOFF_BASE={self.backoff_base:g} is above RFI_BACKOFF_MAX="
                f"{self.backoff_max:g}: the first pause cannot be longer than the longest"
            )

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def origin(self) -> str:
        """Scheme, host and port of the crawled site, as records and manifests name it."""
        return self.base_url

    def as_manifest(self) -> dict[str, Any]:
        """The settings as a manifest records them (paths as text, no password)."""
        return {
            name: _manifest_value(value)
            for name, value in {**self.__dict__, "state_uri": _redacted(self.state_uri)}.items()
            if name != "contact"
        }


def crawl_config(crawler: Crawler) -> RfiConfig:
    """The crawl's one ``RfiConfig``: every component reads it here, so a crawl parses its
    ``RFI_*`` settings once.

    Scrapy builds the spider first, then the extensions, then the engine's middlewares and
    pipelines. So the spider parses the settings (nothing is built before it); the
    extensions, the run extension (``CrawlRun``) among them, take the spider's config; the
    components built after the extensions take the run's. A crawler built by a test (the
    extensions before any spider, or no run extension) gets the run's, else a parse."""
    # Imported here: the spider reads this module and must not load the run or the store.
    from rfi_crawler.run import CrawlRun

    try:
        run = crawler.get_extension(CrawlRun)
    except RuntimeError:  # the extensions are not built yet (the spider, or one of them)
        run = None
    if run is not None:
        return run.config
    config = getattr(crawler.spider, "config", None)
    return config if isinstance(config, RfiConfig) else RfiConfig.from_settings(crawler.settings)


def _manifest_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _redacted(uri: str) -> str:
    # Imported here: the spider reads the config, and must not load the state package.
    from rfi_crawler.state import redact_uri

    return redact_uri(uri)


def check_names(kind: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Refuse a name that is not one of ``known``, suggesting the closest one (a typo such
    as ``RFI_MAX_LISTNG_PAGES`` would otherwise be ignored silently)."""
    known = sorted(known)
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
            raise ConfigError(f"unknown {kind} {name}: {hint}")


# -- Parsers: (setting name, raw value) → value; each says what it accepts -----------------


def _refuse(name: str, raw: object, accepted: str) -> ConfigError:
    return ConfigError(f"{name}={raw!r} is not accepted: expected {accepted}")


def _text(name: str, raw: object) -> str:
    return str(raw).strip()


def _state_uri(name: str, raw: object) -> str:
    # Imported here: the spider reads the config, and must not load the state package.
    from rfi_crawler.state import uri_problem

    text = str(raw).strip()
    problem = uri_problem(text) if text else None
    if problem:
        raise ConfigError(f"{name} is not accepted: {problem}")
    return text


def _contact(name: str, raw: object) -> str:
    # It goes into the User-Agent header: a control character would break the header.
    text = str(raw).strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise _refuse(name, raw, "an email or URL on one line, without control characters")
    return text


def _optional_text(name: str, raw: object) -> str | None:
    return str(raw).strip() or None


def _path(name: str, raw: object) -> Path | None:
    text = str(raw).strip()
    if not text:
        return None
    try:
        return Path(text).expanduser().resolve()
    except (RuntimeError, ValueError, OSError):  # ~unknown-user, a NUL byte
        raise _refuse(name, raw, "a folder path (~ for your home folder)") from None


def _origin(name: str, raw: object) -> str:
    text = str(raw).strip().rstrip("/")
    accepted = "an origin such as https://www.rfi.fr or http://127.0.0.1:8000"
    try:  # urlsplit raises on a bad IPv6 host (``http://[::1``), .port on a bad port
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise _refuse(name, raw, accepted) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or not port_ok:
        raise _refuse(name, raw, accepted)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise _refuse(name, raw, "an origin (scheme, host, port) without user, query or fragment")
    return text


def _integer(low: int, high: int) -> Callable[[str, object], int]:
    def parse(name: str, raw: object) -> int:
        text = str(raw).strip()
        # ASCII digits only (int() reads ٣ as 3, and ``1_0``); a bounded count of them, as
        # int() refuses over 4,300 digits with a ValueError.
        if (
            isinstance(raw, bool)
            or not re.fullmatch(r"[+-]?[0-9]{1,30}", text)
            or not (low <= int(text) <= high)
        ):
            raise _refuse(name, raw, f"a whole number from {low} to {high}")
        return int(text)

    return parse


def _number(
    low: float, high: float, *, low_open: bool, what: str
) -> Callable[[str, object], float]:
    def parse(name: str, raw: object) -> float:
        text = str(raw).strip()
        try:
            # ASCII only: float() reads other scripts' digits (٣) and ``1_0`` too.
            value = float(text) if text.isascii() and "_" not in text else math.nan
        except ValueError:
            value = math.nan
        above_low = value > low if low_open else value >= low
        if isinstance(raw, bool) or not math.isfinite(value) or not above_low or value > high:
            bound = "above" if low_open else "at least"
            raise _refuse(name, raw, f"{what}, {bound} {low:g} and at most {high:g}")
        return value

    return parse


def _seconds(name: str, raw: object) -> float:
    return _number(0, MAX_SECONDS, low_open=True, what="a number of seconds")(name, raw)


def parse_flag(name: str, raw: object) -> bool:
    """A yes/no setting or argument: 1/0, true/false, yes/no, on/off."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise _refuse(name, raw, "1 or 0 (or true/false)")


def _start_points(name: str, raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    points = tuple(str(item).strip() for item in items if str(item).strip())
    accepted = f"a comma-separated list of {', '.join(START_POINTS)} (at least one)"
    if not points or set(points) - set(START_POINTS):
        raise _refuse(name, raw, accepted)
    return tuple(dict.fromkeys(points))


def _schedule(name: str, raw: object) -> str:
    text = str(raw).strip()
    if text.lower() in ("", "off"):
        return "off"  # no re-checks
    try:
        if not text.isascii():  # parse_schedule's \d reads other scripts' digits (٣d)
            raise ValueError("ages are written in ASCII digits")
        return format_schedule(parse_schedule(text))
    except ValueError as exc:
        raise _refuse(name, raw, f"ages such as 1h,6h,1d,7d, or off ({exc})") from None


def _moment(name: str, raw: object) -> datetime | None:
    text = str(raw).strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise _refuse(
            name,
            raw,
            "an ISO 8601 time with its offset, such as 2026-11-20T10:00:00+00:00, of the "
            f"years {FIRST_YEAR} to {LAST_YEAR}",
        )
    return moment


def _compression(name: str, raw: object) -> str | None:
    text = str(raw).strip().lower() or None
    if text not in COMPRESSIONS:
        raise _refuse(name, raw, "empty (plain .jsonl) or gzip")
    return text


# Setting → (RfiConfig field, parser). The README's settings table has one row for each.
SETTINGS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "RFI_BASE_URL": ("base_url", _origin),
    "RFI_MAX_LISTING_PAGES": ("max_listing_pages", _integer(1, 10_000)),
    "RFI_MAX_SITEMAPS": ("max_sitemaps", _integer(1, 1_000_000)),
    "RFI_FOLLOW_TAGS": ("follow_tags", parse_flag),
    "RFI_CONTACT": ("contact", _contact),
    "RFI_START_POINTS": ("start_points", _start_points),
    "RFI_DATA_DIR": ("data_dir", _path),
    "RFI_STATE_URI": ("state_uri", _state_uri),
    "RFI_OUTPUT_DIR": ("output_dir", _path),
    "RFI_OUTPUT_COMPRESSION": ("output_compression", _compression),
    "RFI_RECHECK_SCHEDULE": ("recheck_schedule", _schedule),
    "RFI_RECHECK_MAX_PER_RUN": ("recheck_max_per_run", _integer(0, 1_000_000)),
    "RFI_RECHECK_NOW": ("recheck_now", _moment),
    "RFI_REFRESH_DAYS": ("refresh_days", _integer(0, 36_500)),
    "RFI_REFRESH": ("refresh", parse_flag),
    "RFI_FSYNC_EVERY": ("sync_every", _integer(1, 1_000_000)),
    "RFI_FSYNC_SECONDS": ("sync_seconds", _seconds),
    "RFI_BLOCK_THRESHOLD": ("block_threshold", _integer(1, 1_000_000)),
    "RFI_BACKOFF_BASE": ("backoff_base", _seconds),
    "RFI_BACKOFF_MAX": ("backoff_max", _seconds),
    "RFI_BACKOFF_RETRIES": ("backoff_retries", _integer(0, 100)),
    "RFI_DRIFT_THRESHOLD": (
        "drift_threshold",
        _number(0, 1, low_open=False, what="a share"),
    ),
    "RFI_DRIFT_MIN_PAGES": ("drift_min_pages", _integer(1, 1_000_000)),
    "RFI_STATE_TIMEOUT": ("state_timeout", _seconds),
    "RFI_WARC_DIR": ("warc_dir", _path),
    "RFI_WARC_MAX_MB": ("warc_max_mb", _integer(1, 100_000)),
    "RFI_ARCHIVE_DAYS_IN_FLIGHT": ("archive_days_in_flight", _integer(1, 1000)),
}


def defaults() -> dict[str, Any]:
    """Setting name → its default, as the dataclass writes it (for the README check)."""
    by_field = {f.name: f.default for f in fields(RfiConfig)}
    return {name: by_field[field_name] for name, (field_name, _) in SETTINGS.items()}
