"""The published JSON Schema: shipped in the package, enforced on every record."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import pytest
from parsel import Selector
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from rfi_crawler.extract.article import extract_article
from rfi_crawler.items import ArticleItem
from rfi_crawler.pipelines import ValidationPipeline
from rfi_crawler.schema import SCHEMA_VERSION, record_schema, validation_errors
from rfi_crawler.spiders.rfi_cn import RfiCnSpider

PAGE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "rfi_pages"
    / "article_20251130_zhengzhi.html"
)
CRAWL = {"fetched_at": "2026-11-25T10:00:00+00:00", "via": "homepage", "referer": None, "depth": 0}


@pytest.fixture(scope="module")
def real_record() -> dict:
    item = extract_article(
        Selector(text=PAGE.read_text(encoding="utf-8")), "https://www.rfi.fr/cn/", crawl=CRAWL
    )
    return {k: v for k, v in dataclasses.asdict(item).items() if k != "version"}


def test_the_schema_ships_inside_the_package_and_names_its_version():
    assert resources.files("rfi_crawler.schema").joinpath("record.schema.json").is_file()
    schema = record_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_VERSION in schema["$id"]
    fields = {f.name for f in dataclasses.fields(ArticleItem)}
    assert set(schema["properties"]) == fields  # every declared field is in the schema
    assert all(spec.get("description") for spec in schema["properties"].values())


def test_the_real_article_is_valid(real_record):
    assert validation_errors(real_record) == []
    assert validation_errors({**real_record, "version": 3}) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": ""}, "title"),
        ({"body": None}, "body"),
        ({"published_at": "30/11/2025 - 10:13"}, "published_at"),
        ({"url": "http://127.0.0.1:8000/cn/x/20251130-y"}, "url"),
        ({"type": "podcast"}, "type"),
        ({"tags": ["中国", "中国"]}, "tags"),
        ({"image": {"url": "data:image/gif;base64,R0l", "caption": None, "credit": None}}, "image"),
        ({"version": 0}, "version"),
        ({"extra": 1}, "extra"),
    ],
)
def test_broken_records_are_named(real_record, change, message):
    errors = validation_errors({**real_record, **change})
    assert errors and message in " ".join(errors)


def test_the_pipeline_drops_an_invalid_record_counts_and_logs_it(real_record, caplog):
    crawler = get_crawler(RfiCnSpider)
    crawler.stats.open_spider()
    pipeline = ValidationPipeline.from_crawler(crawler)
    good = ArticleItem(**real_record)
    assert pipeline.process_item(good) is good
    bad = ArticleItem(**{**real_record, "title": None, "published_at": None})
    with pytest.raises(DropItem, match="invalid record"):
        pipeline.process_item(bad)
    assert crawler.stats.get_value("rfi/invalid/records") == 1
    assert crawler.stats.get_value("rfi/invalid/title") == 1
    assert crawler.stats.get_value("rfi/invalid/published_at") == 1
    assert real_record["url"] in caplog.text
