"""Layout drift: how often extraction misses a required field, and field coverage.

RFI changes its markup every year or two; when it does, selectors quietly stop matching.
Every content page that answered 200 with HTML is observed: a page with no article found,
or a record without one of ``REQUIRED``, counts as missed. Judged over the whole run, once
at least ``min_pages`` pages were seen, so a few broken pages early on cannot stop a crawl.
Pages of an older template (``current`` False) are counted apart and not judged.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import CloseSpider

from rfi_crawler import signals as rfi_signals
from rfi_crawler.config import RfiConfig, crawl_config
from rfi_crawler.fields import COVERED

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

REQUIRED = ("title", "body", "published_at")
SAMPLES = 5


@dataclass
class FieldCoverage:
    threshold: float
    min_pages: int
    pages: int = 0
    records: int = 0
    present: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)  # required field → pages
    missed_pages: int = 0
    samples: list[str] = field(default_factory=list)

    def observe(self, url: str, record: dict[str, Any] | None) -> None:
        """One content page: its record, or None when no article was found on it."""
        self.pages += 1
        if record is not None:
            self.records += 1
            self.present.update(
                name for name in COVERED if record.get(name) not in (None, "", [], {})
            )
        lacking = (
            list(REQUIRED)
            if record is None
            else [name for name in REQUIRED if not record.get(name)]
        )
        if lacking:
            self.missed_pages += 1
            self.missed.update(lacking)
            if len(self.samples) < SAMPLES:
                self.samples.append(url)

    @property
    def missed_share(self) -> float:
        return self.missed_pages / self.pages if self.pages else 0.0

    def drifted(self) -> bool:
        return self.pages >= self.min_pages and self.missed_share > self.threshold

    def coverage(self) -> dict[str, float]:
        """Share of records (0–1) that have each field."""
        if not self.records:
            return {}
        return {name: round(self.present[name] / self.records, 4) for name in COVERED}

    def describe_drift(self) -> str:
        fields = ", ".join(f"{name} ({count})" for name, count in self.missed.most_common())
        return (
            f"layout drift: {self.missed_pages} of {self.pages} content pages "
            f"({self.missed_share:.1%}, threshold {self.threshold:.1%}) lack required "
            f"fields: {fields}; e.g. {', '.join(self.samples)}. The site's markup has "
            "probably changed: check rfi_crawler/extract/ against one of these pages."
        )


class DriftExtension:
    """Observes every parsed article page (``page_extracted``); when the crawl runs dry
    and the layout has drifted, one ERROR and ``CloseSpider("layout_drift")`` end the run.
    Field coverage goes to ``rfi/coverage/*`` when the spider closes."""

    def __init__(self, crawler: Crawler, config: RfiConfig) -> None:
        self.crawler = crawler
        self.coverage = FieldCoverage(config.drift_threshold, config.drift_min_pages)
        self.reported = False
        crawler.signals.connect(self.page_extracted, signal=rfi_signals.page_extracted)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DriftExtension:
        return cls(crawler, crawl_config(crawler))

    def page_extracted(self, url: str, record: dict[str, Any] | None, current: bool = True) -> None:
        if current:
            self.coverage.observe(url, record)
        else:
            self.crawler.stats.inc_value("rfi/drift/older_template_pages")

    def spider_idle(self) -> None:
        # Judged once the crawl has run out of requests, before it closes as "finished".
        if self.reported or not self.coverage.drifted():
            return
        self.reported = True
        logger.error("%s", self.coverage.describe_drift())
        self.crawler.stats.set_value("rfi/drift/missed_share", round(self.coverage.missed_share, 4))
        raise CloseSpider("layout_drift")

    def spider_closed(self) -> None:
        stats = self.crawler.stats
        for name, share in self.coverage.coverage().items():
            stats.set_value(f"rfi/coverage/{name}", share)
        stats.set_value("rfi/coverage/pages", self.coverage.pages)
