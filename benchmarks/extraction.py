"""Extraction speed on the real captured article: parsing alone, our full extraction,
and trafilatura, in one run (medians of interleaved repetitions).

    python -m benchmarks.extraction [--runs 200]

Targets (issue 2): full extraction <= 1.6 x parsing alone; >= 4 x faster than trafilatura.
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trafilatura
from parsel import Selector

from rfi_crawler.extract.article import extract_article

PAGE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "rfi_pages"
    / "article_20251130_zhengzhi.html"
)
URL = "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    html = PAGE.read_text(encoding="utf-8")
    contenders: dict[str, Callable[[], object]] = {
        "parse (parsel.Selector)": lambda: Selector(text=html),
        "rfi-crawler full extraction": lambda: extract_article(Selector(text=html), URL),
        "trafilatura.bare_extraction": lambda: trafilatura.bare_extraction(
            html, url=URL, with_metadata=True
        ),
    }
    assert extract_article(Selector(text=html), URL).title  # measure a working extraction
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(5):  # warm-up
        for run in contenders.values():
            run()
    for _ in range(runs):
        for name, run in contenders.items():  # interleaved: machine noise hits all alike
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    parse, ours, other = medians.values()
    print(
        f"page: {PAGE.name} ({PAGE.stat().st_size:,} bytes); runs: {runs}; "
        f"Python {platform.python_version()}, trafilatura {trafilatura.__version__}"
    )
    for name, ms in medians.items():
        print(f"  {name:30s} median {ms:7.2f} ms")
    ratio, speedup = ours / parse, other / ours
    print(f"full extraction / parsing alone: {ratio:.2f}x (target <= 1.6x)")
    print(f"trafilatura / full extraction:   {speedup:.1f}x faster (target >= 4x)")
    return 0 if ratio <= 1.6 and speedup >= 4 else 1


if __name__ == "__main__":
    sys.exit(main())
