"""Python's cyclic garbage collector, set for a crawl's way of allocating.

A crawl allocates a few hundred container objects a page (requests, items, dicts, lists)
that nearly all die with the page, by reference counting. CPython's default runs a young
collection every 700 allocations: each one moves the objects of the pages in flight to an
older generation, and every full collection then walks them again, with every module,
class and function loaded at start. On the replica that was 0.67 s of collecting in a
3,000-article crawl, 0.22 ms a page (docs/performance.md).

At engine start ``GcTuning`` collects once, freezes what is alive then (``gc.freeze``: the
code and configuration, which live as long as the process) and lets ``GEN0_THRESHOLD``
allocations pass between young collections: 0.06 s in the same crawl. Cycles are still
collected, less often. At engine stop both are put back, so a process that does more than
crawl (a test run, a script) is left as it was. A collector the user disabled or set
higher is left alone. ``EXTENSIONS={"rfi_crawler.gc_tuning.GcTuning": None}`` turns it off.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from scrapy import signals

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

GEN0_THRESHOLD = 5000


class GcTuning:
    def __init__(self) -> None:
        self.saved: tuple[int, ...] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> GcTuning:
        extension = cls()
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        crawler.signals.connect(extension.engine_stopped, signal=signals.engine_stopped)
        return extension

    def engine_started(self) -> None:
        threshold = gc.get_threshold()
        if not gc.isenabled() or threshold[0] >= GEN0_THRESHOLD:
            return
        self.saved = threshold
        gc.collect()
        gc.freeze()
        gc.set_threshold(GEN0_THRESHOLD, *threshold[1:])

    def engine_stopped(self) -> None:
        if self.saved is None:
            return
        gc.set_threshold(*self.saved)
        gc.unfreeze()
        self.saved = None
