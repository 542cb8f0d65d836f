"""Property-based fuzzing of the extractors on mutated real pages and archive files.

Properties: no exception escapes; a page gives either no record (reported as not an
article) or a record that matches the schema, except that a required field may be missing
(a page the drift monitor and the validation pipeline report as not extractable).

CI runs a short, derandomised pass. Longer:
    RFI_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz_extraction.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsel import Selector

from rfi_crawler.drift import REQUIRED
from rfi_crawler.extract.article import extract_article
from rfi_crawler.extract.feeds import MalformedFeedError, rss_links, sitemap_links
from rfi_crawler.extract.listing import content_links, pager_links, section_links
from rfi_crawler.schema import validation_errors

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EXAMPLES = int(os.environ.get("RFI_FUZZ_EXAMPLES", "40"))
LONG_RUN = "RFI_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_RUN,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CRAWL = {"fetched_at": "2026-11-25T10:00:00+00:00", "via": "url", "referer": None, "depth": 0}
SNIPPETS = [
    "<",
    ">",
    "</div>",
    "<p>",
    "</article>",
    '<script type="application/ld+json">{',
    "</script>",
    "&#",
    "\x00",
    "\u200b",
    "<h2><strong>",
    '"',
    "{",
    "]",
    "\ufffd",
    '<meta property="article:published_time" content="not a date">',
    '<meta property="article:published_time" content="0001-01-01T00:00:00+05:00">',
    '<time datetime="9999-12-31T23:59:59-05:00">01/01/0001 - 00:05</time>',
    '<link rel="canonical" href="//cn/x">',
    "data-article-item-link",
    "%E6%94",
]


@cache
def pages() -> list[tuple[str, str]]:
    """(url, html) of the real captured pages and of every archive file's HTML line."""
    found = [
        (
            "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-x",
            (SHARED / "rfi_pages" / "article_20251130_zhengzhi.html").read_text(encoding="utf-8"),
        ),
        (
            "https://www.rfi.fr/cn/",
            (SHARED / "rfi_pages" / "homepage_20251130.html").read_text(encoding="utf-8"),
        ),
    ]
    for path in sorted((SHARED / "seed_corpus").glob("*")):
        if path.name in ("FORMAT.md", "SOURCES.md"):
            continue
        lines = path.read_text(encoding="utf-8").split("\n")
        url = lines[1][lines[1].rfind("(") + 1 : -1] if len(lines) > 1 else ""
        found.append((url, "\n".join(lines[4:])))
    return found


@st.composite
def mutated_page(draw: st.DrawFn) -> tuple[str, str]:
    url, html = draw(st.sampled_from(pages()))
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, max(0, len(html) - 1)))
        end = min(len(html), start + draw(st.integers(0, 5000)))
        operation = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate", "swap"]))
        if operation == "delete":
            html = html[:start] + html[end:]
        elif operation == "duplicate":
            html = html[:end] + html[start:end] + html[end:]
        elif operation == "insert":
            html = html[:start] + draw(st.sampled_from(SNIPPETS)) + html[start:]
        elif operation == "truncate":
            html = html[:start]
        else:
            html = html[start:end] + html[:start] + html[end:]
    return url, html


def tolerable(errors: list[str]) -> bool:
    """Only a missing required field (and, without a body, its zero ``char_count``): a page
    reported as not extractable, not a bad record."""
    fields = {error.split(":", 1)[0] for error in errors}
    if "char_count" in fields and "body" in fields:
        fields.discard("char_count")
    return fields <= set(REQUIRED)


@FUZZ
@given(mutated_page())
def test_article_extraction_never_raises_and_never_returns_a_broken_record(page):
    url, html = page
    item = extract_article(
        Selector(text=html or "<html></html>"), url or "https://www.rfi.fr/cn/", crawl=CRAWL
    )
    if item is None:
        return
    record = {k: v for k, v in dataclasses.asdict(item).items() if k != "version"}
    errors = validation_errors(record)
    assert tolerable(errors), errors


@FUZZ
@given(mutated_page())
def test_listing_extraction_never_raises(page):
    url, html = page
    selector = Selector(text=html or "<html></html>")
    page_url = url or "https://www.rfi.fr/cn/"
    for link in content_links(selector, page_url):
        assert link.url.startswith("https://www.rfi.fr/cn/")
    section_links(selector, page_url)
    pager_links(selector, page_url, "https://www.rfi.fr/cn/")


@FUZZ
@given(st.binary(max_size=4000) | st.text(max_size=4000).map(str.encode))
def test_feed_parsers_never_raise_anything_but_a_named_error(body):
    rss_links(body, "https://www.rfi.fr/cn/rss")
    with contextlib.suppress(MalformedFeedError):
        sitemap_links(body, "https://www.rfi.fr/sitemaps/cn/news.xml")
