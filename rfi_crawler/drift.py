"""Layout drift: how often extraction misses a required field, and field coverage.

RFI changes its markup every year or two; when it does, selectors quietly stop matching.
Every content page that answered 200 with HTML is observed: a page with no article found,
or a record without one of ``REQUIRED``, counts as missed. Judged over the whole run, once
at least ``min_pages`` pages were seen, so a few broken pages early on cannot stop a crawl.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rfi_crawler.fields import COVERED

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
