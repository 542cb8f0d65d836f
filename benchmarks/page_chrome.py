"""How much of an article page's parse its chrome costs: the site's header and footer.

    python -m benchmarks.page_chrome [--rounds 7] [--loops 300]

On the real article page (../shared/rfi_pages), cut as a crawl parses it
(``cut_raw_text``), libxml2 builds the whole tree; no extractor reads the site's
``<header>`` (navigation, the live radio player) or ``<footer>``, which hold more than
half of its elements. This prints the parse's CPU with their contents in, and with each
left out (the best of ``--rounds`` rounds of ``--loops`` parses, freeing included): what
leaving them out would be worth. It is not done: proving that the tree outside them stays
the same on any page means following libxml2's tree building over markup the site
controls (docs/performance.md, "Seventh pass").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lxml import etree

from rfi_crawler.extract.raw_text import cut_raw_text

PAGE = Path(__file__).resolve().parents[2] / "shared/rfi_pages/article_20251130_zhengzhi.html"
# The contents' ends on the real page: the header's is where <main> begins, the footer's
# is its own end tag (each is the page's only one).
REGIONS = {
    "header": (b'<header class="o-header"', b"<main"),
    "footer": (b'<footer class="o-footer"', b"</footer>"),
}


def content_span(page: bytes, opener: bytes, after: bytes) -> tuple[int, int]:
    """Where the element's content lies: from its start tag's end to ``after``."""
    if page.count(opener) != 1 or page.count(after) != 1:
        raise SystemExit(f"{PAGE.name}: not the page this script knows ({opener!r})")
    start = page.index(b">", page.index(opener)) + 1
    end = page.index(after, start)
    if after == b"<main":  # the header's end tag and the whitespace before <main> stay
        end = page.rindex(b"</header>", start, end)
    return start, end


def without(page: bytes, names: tuple[str, ...]) -> bytes:
    spans = sorted(content_span(page, *REGIONS[name]) for name in names)
    kept, position = [], 0
    for start, end in spans:
        kept.append(page[position:start])
        position = end
    kept.append(page[position:])
    return b"".join(kept)


def parse_ms(page: bytes, rounds: int, loops: int) -> float:
    parser = etree.HTMLParser()
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(loops):
            etree.fromstring(page, parser)
        best = min(best, 1000 * (time.process_time() - start) / loops)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loops", type=int, default=300)
    args = parser.parse_args()
    if not PAGE.is_file():
        raise SystemExit(f"{PAGE}: missing (the team's ../shared folder)")
    cut, _ = cut_raw_text(PAGE.read_bytes())
    print("| page (cut) | KB | elements | parse ms |\n|---|---|---|---|")
    for label, names in (
        ("as parsed", ()),
        ("without the header's content", ("header",)),
        ("without the footer's content", ("footer",)),
        ("without both", ("header", "footer")),
    ):
        page = without(cut, names)
        elements = sum(1 for _ in etree.fromstring(page, etree.HTMLParser()).iter())
        ms = parse_ms(page, args.rounds, args.loops)
        print(f"| {label} | {len(page) / 1000:.0f} | {elements} | {ms:.3f} |")


if __name__ == "__main__":
    main()
