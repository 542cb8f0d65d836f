"""The per-record check (jsonschema-rs) never passes a record the reference validator
(jsonschema) refuses, and ``validation_errors`` is the reference's verdict, on real, replica
and mutated records (rfi_crawler/schema). The converse may differ: jsonschema-rs reads
``\\d`` as ECMA-262 does (ASCII digits), Python's ``re`` also matches ``２０２６``; such
a record is then judged by the reference, as before."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from parsel import Selector

from rfi_crawler.extract.article import extract_article
from rfi_crawler.schema import _fast_validator, full_validation_errors, validation_errors
from tests.replica.site import ReplicaSite

PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "rfi_pages"
BASE = "https://www.rfi.fr"
CRAWL = {
    "fetched_at": "2026-12-06T10:00:00+00:00",
    "via": "section",
    "referer": "https://www.rfi.fr/cn/",
    "depth": 0,
    "origin": BASE,
}
# Wrong values of every kind, tried on every field.
WRONG = [None, 0, -1, 1.5, True, "", " ", "x", "２０２６-12-06T10:00:00+00:00", [], [None],
         [""], ["a", "a"], {}, {"x": 1}]  # fmt: skip


def as_record(item) -> dict:
    record = ItemAdapter(item).asdict()
    if record.get("version") is None:
        record.pop("version", None)
    return record


@pytest.fixture(scope="module")
def records() -> list[dict]:
    site = ReplicaSite(articles=60, seed=7, today=date(2026, 11, 30), years=(2006, 2025),
                       past_per_year=6)  # fmt: skip
    found = []
    for path, article in site.by_path.items():
        page = Selector(text=site.render_article(article))
        item = extract_article(page, BASE + path, BASE, dict(CRAWL))
        if item is not None:
            found.append(as_record(item))
    real = PAGES / "article_20251130_zhengzhi.html"
    if real.exists():
        url = BASE + "/cn/政治/20251130-台湾增加400亿美元国防开支-加速部署t-dome防空系统"
        item = extract_article(Selector(text=real.read_text(encoding="utf-8")), url, BASE, CRAWL)
        found.append(as_record(item))
    return found


def agrees(record: dict) -> bool:
    full = full_validation_errors(record)
    assert validation_errors(record) == full
    return not (_fast_validator().is_valid(record) and full)


def mutations(record: dict):
    """Each field (and each field of its first nested object) set to each wrong value,
    removed, and one unknown field added."""
    for key in record:
        for value in WRONG:
            yield {**record, key: value}
        yield {k: v for k, v in record.items() if k != key}
        inner = record[key]
        if isinstance(inner, list) and inner and isinstance(inner[0], dict):
            inner = inner[0]
            wrap = lambda v, key=key: [v, *record[key][1:]]  # noqa: E731
        elif isinstance(inner, dict):
            wrap = lambda v: v  # noqa: E731
        else:
            continue
        for sub in inner:
            for value in WRONG:
                yield {**record, key: wrap({**inner, sub: value})}
    yield {**record, "unknown_field": 1}


def test_the_records_are_valid(records):
    assert len(records) > 100
    for record in records:
        assert validation_errors(record) == []
        assert _fast_validator().is_valid(record)


def test_the_fast_check_passes_no_record_the_reference_refuses(records):
    # One record per template generation and kind is enough to touch every schema branch.
    samples = {(r.get("type"), bool(r.get("media")), r["url"][:30]): r for r in records}
    tried = invalid = 0
    for record in samples.values():
        for mutated in mutations(copy.deepcopy(record)):
            tried += 1
            invalid += bool(full_validation_errors(mutated))
            assert agrees(mutated), mutated
    assert tried > 1000 and invalid > tried // 2


def test_values_json_cannot_hold_get_the_full_validators_messages():
    record = {"id": b"bytes", "url": object()}
    assert validation_errors(record) == full_validation_errors(record) != []
