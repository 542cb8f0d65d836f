"""Every ``RFI_*`` setting, read and validated once into a frozen object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.utils.project import project_data_dir

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

START_POINTS = ("homepage", "sections", "rss", "sitemap")
COMPRESSIONS = (None, "gzip")


class ConfigError(ValueError):
    """A setting or spider argument has a value the crawler cannot use."""


def default_data_dir() -> Path:
    """``<project>/.scrapy/rfi-crawler`` inside a Scrapy project; else the user's data dir
    (``$XDG_DATA_HOME/rfi-crawler`` or ``~/.local/share/rfi-crawler``), never the current
    directory of a job (Scrapyd runs eggs from its own working directory)."""
    try:
        return Path(project_data_dir()).resolve() / "rfi-crawler"
    except NotConfigured:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(base) / "rfi-crawler"


@dataclass(frozen=True)
class RfiConfig:
    base_url: str = "https://www.rfi.fr"
    max_listing_pages: int = 3
    follow_tags: bool = False
    contact: str = ""
    start_points: tuple[str, ...] = START_POINTS
    data_dir: Path = field(default_factory=default_data_dir)
    state_uri: str = ""  # default: sqlite file in data_dir
    output_dir: Path | None = None  # default: data_dir / "output"
    output_compression: str | None = None
    refresh_days: int = 3
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

    def __post_init__(self) -> None:
        # Derived defaults live here so that RfiConfig(data_dir=…) alone is consistent.
        if not self.state_uri:
            object.__setattr__(self, "state_uri", f"sqlite:///{self.data_dir / 'state.sqlite3'}")
        if self.output_dir is None:
            object.__setattr__(self, "output_dir", self.data_dir / "output")

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RfiConfig:
        defaults = cls.__dataclass_fields__
        data_dir = settings.get("RFI_DATA_DIR")
        output_dir = settings.get("RFI_OUTPUT_DIR")
        warc_dir = settings.get("RFI_WARC_DIR")
        config = cls(
            base_url=str(settings.get("RFI_BASE_URL") or defaults["base_url"].default).rstrip("/"),
            max_listing_pages=settings.getint("RFI_MAX_LISTING_PAGES", 3),
            follow_tags=settings.getbool("RFI_FOLLOW_TAGS", False),
            contact=str(settings.get("RFI_CONTACT") or "").strip(),
            start_points=tuple(settings.getlist("RFI_START_POINTS", list(START_POINTS))),
            data_dir=Path(data_dir).expanduser().resolve() if data_dir else default_data_dir(),
            state_uri=str(settings.get("RFI_STATE_URI") or ""),
            output_dir=Path(output_dir).expanduser().resolve() if output_dir else None,
            output_compression=(settings.get("RFI_OUTPUT_COMPRESSION") or None),
            refresh_days=settings.getint("RFI_REFRESH_DAYS", 3),
            refresh=settings.getbool("RFI_REFRESH", False),
            sync_every=settings.getint("RFI_FSYNC_EVERY", 25),
            sync_seconds=settings.getfloat("RFI_FSYNC_SECONDS", 5.0),
            block_threshold=settings.getint("RFI_BLOCK_THRESHOLD", 20),
            backoff_base=settings.getfloat("RFI_BACKOFF_BASE", 5.0),
            backoff_max=settings.getfloat("RFI_BACKOFF_MAX", 300.0),
            backoff_retries=settings.getint("RFI_BACKOFF_RETRIES", 2),
            drift_threshold=settings.getfloat("RFI_DRIFT_THRESHOLD", 0.05),
            drift_min_pages=settings.getint("RFI_DRIFT_MIN_PAGES", 20),
            state_timeout=settings.getfloat("RFI_STATE_TIMEOUT", 60.0),
            warc_dir=Path(warc_dir).expanduser().resolve() if warc_dir else None,
            warc_max_mb=settings.getint("RFI_WARC_MAX_MB", 1000),
        )
        config.validate()
        return config

    def validate(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigError(
                f"RFI_BASE_URL must be an origin such as https://www.rfi.fr or "
                f"http://127.0.0.1:8000, not {self.base_url!r}"
            )
        if self.max_listing_pages < 1:
            raise ConfigError(
                f"RFI_MAX_LISTING_PAGES must be 1 or more, not {self.max_listing_pages}"
            )
        unknown = sorted(set(self.start_points) - set(START_POINTS))
        if unknown:
            raise ConfigError(
                f"RFI_START_POINTS: unknown {unknown}; choose from {list(START_POINTS)}"
            )
        if self.output_compression not in COMPRESSIONS:
            raise ConfigError(
                f"RFI_OUTPUT_COMPRESSION must be empty or 'gzip', not {self.output_compression!r}"
            )
        if self.refresh_days < 0:
            raise ConfigError(f"RFI_REFRESH_DAYS must be 0 or more, not {self.refresh_days}")
        if self.block_threshold < 1 or self.backoff_retries < 0:
            raise ConfigError(
                "RFI_BLOCK_THRESHOLD must be 1 or more, RFI_BACKOFF_RETRIES 0 or more"
            )
        if not 0 < self.backoff_base <= self.backoff_max:
            raise ConfigError("RFI_BACKOFF_BASE must be above 0 and at most RFI_BACKOFF_MAX")
        if not 0 <= self.drift_threshold <= 1 or self.drift_min_pages < 1:
            raise ConfigError(
                "RFI_DRIFT_THRESHOLD must be between 0 and 1, RFI_DRIFT_MIN_PAGES 1 or more"
            )
        if self.sync_every < 1 or self.sync_seconds <= 0:
            raise ConfigError("RFI_FSYNC_EVERY must be 1 or more and RFI_FSYNC_SECONDS above 0")
        if not 1 <= self.warc_max_mb <= 100_000:
            raise ConfigError(f"RFI_WARC_MAX_MB must be 1 to 100000, not {self.warc_max_mb}")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def as_manifest(self) -> dict[str, Any]:
        """The settings as a manifest records them (paths as text)."""
        return {
            name: str(value) if isinstance(value, Path) else value
            for name, value in self.__dict__.items()
            if name != "contact"
        }
