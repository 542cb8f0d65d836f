"""Every ``RFI_*`` setting, read and validated once into a frozen object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

START_POINTS = ("homepage", "sections", "rss", "sitemap")


class ConfigError(ValueError):
    """A setting or spider argument has a value the crawler cannot use."""


@dataclass(frozen=True)
class RfiConfig:
    base_url: str = "https://www.rfi.fr"
    max_listing_pages: int = 3
    follow_tags: bool = False
    contact: str = ""
    start_points: tuple[str, ...] = START_POINTS

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RfiConfig:
        defaults = cls()
        config = cls(
            base_url=str(settings.get("RFI_BASE_URL") or defaults.base_url).rstrip("/"),
            max_listing_pages=settings.getint("RFI_MAX_LISTING_PAGES", defaults.max_listing_pages),
            follow_tags=settings.getbool("RFI_FOLLOW_TAGS", defaults.follow_tags),
            contact=str(settings.get("RFI_CONTACT") or "").strip(),
            start_points=tuple(settings.getlist("RFI_START_POINTS", list(defaults.start_points))),
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

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""
