"""Every content URL a run meets ends in exactly one named outcome (scope: this run).

Outcomes: ``exported``; ``unchanged`` (downloaded, same content as exported before);
``skipped/<reason>`` (``known`` — not downloaded again, ``outside_window``, ``robots``,
``duplicate``, ``invalid``, ``claimed_by_other_run``); ``failed/<reason>`` (``http_403``,
``http_404``, ``http_5xx``, ``timeout``, ``dns``, ``connection``, ``data_loss``,
``too_large``, ``not_html``, ``no_article``, ``output_error`` …); ``cancelled`` (the run
stopped before the URL was settled). Stats: ``rfi/outcome/met`` and ``rfi/outcome/<outcome>``;
their sum always equals ``met``.
"""

from __future__ import annotations

import logging
from collections import Counter

from scrapy.exceptions import DropItem

logger = logging.getLogger(__name__)


class Dropped(DropItem):
    """A pipeline's drop, with the outcome it settles for the record's URL."""

    def __init__(self, outcome: str, message: str, log_level: str | None = None) -> None:
        super().__init__(message, log_level=log_level)
        self.outcome = outcome


class OutcomeLedger:
    def __init__(self) -> None:
        self._open: set[str] = set()
        self._settled: set[str] = set()
        self.counts: Counter[str] = Counter()

    @property
    def met(self) -> int:
        return len(self._open) + len(self._settled)

    def meet(self, url: str) -> None:
        if url not in self._settled:
            self._open.add(url)

    def settle(self, url: str, outcome: str) -> bool:
        """Record the URL's outcome; False (and a warning) if it had one already."""
        if url in self._settled:
            logger.warning("outcome %s for %s ignored: it was settled already", outcome, url)
            return False
        # A request resumed from JOBDIR was met by the process that scheduled it.
        self._open.discard(url)
        self._settled.add(url)
        self.counts[outcome] += 1
        return True

    def close(self) -> Counter[str]:
        """Settle what is still open as ``cancelled``; the final counts."""
        for url in list(self._open):
            self.settle(url, "cancelled")
        return self.counts
