"""Loader processors, each on its own."""

from __future__ import annotations

import pytest

from rfi_crawler.processors import (
    FirstSource,
    block_text,
    clean_image,
    clean_related,
    clean_text,
    collapse_whitespace,
    not_a_section,
    paris_to_utc_iso,
    remove_zero_width,
    strip_title_suffix,
    to_utc_iso,
    unique_in_order,
    valid_id,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  法新社消息称，台湾政府计划        ", "法新社消息称，台湾政府计划"),
        ("a\n\t b", "a b"),
        ("全角标点：“保留”。", "全角标点：“保留”。"),  # no NFKC: full-width punctuation stays
        ("不\u00a0换行", "不 换行"),
        ("国安法下异见遭噤声　香港学生", "国安法下异见遭噤声　香港学生"),  # ideographic space kept
        ("   ", None),
        ("", None),
    ],
)
def test_collapse_whitespace(text, expected):
    assert collapse_whitespace(text) == expected


def test_remove_zero_width():
    assert remove_zero_width("台\u200b湾\u200c\u200d\u2060\ufeff\u00ad") == "台湾"


@pytest.mark.parametrize("value", [None, 3, 2.5, ["x"], {"a": 1}])
def test_clean_text_passes_only_text(value):
    assert clean_text(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-11-30T09:13:47+00:00", "2025-11-30T09:13:47+00:00"),
        ("2025-11-30T10:13:47+01:00", "2025-11-30T09:13:47+00:00"),
        ("2025-11-30T09:13:47Z", "2025-11-30T09:13:47+00:00"),
        ("2025-11-30T09:13:47.123456+00:00", "2025-11-30T09:13:47+00:00"),
        ("2025-11-30T09:13:47", None),  # no offset: not guessed
        ("0001-01-01T00:00:00+05:00", None),  # UTC would fall before year 1
        ("9999-12-31T23:59:59-05:00", None),  # … or after 9999
        ("0001-01-01T06:00:00+05:00", "0001-01-01T01:00:00+00:00"),
        ("30/11/2025", None),
        ("", None),
        (None, None),
    ],
)
def test_to_utc_iso(value, expected):
    assert to_utc_iso(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/11/2025 - 10:13", "2025-11-30T09:13:00+00:00"),  # winter: UTC+1
        ("发表时间： 15/07/2024 - 12:00", "2024-07-15T10:00:00+00:00"),  # summer: UTC+2
        ("31/02/2024 - 10:00", None),
        ("01/01/0001 - 00:05", None),  # Paris is ahead of UTC: before year 1
        ("yesterday", None),
    ],
)
def test_paris_to_utc_iso(text, expected):
    assert paris_to_utc_iso(text) == expected


@pytest.mark.parametrize(
    ("title", "programme", "expected"),
    [
        ("谈诺贝尔奖 - 要闻分析", "要闻分析", "谈诺贝尔奖"),
        ("谈诺贝尔奖 – 要闻分析", "要闻分析", "谈诺贝尔奖"),
        ("美股收盘 – 法国国际广播电台 - RFI", None, "美股收盘"),
        ("标题 - RFI", None, "标题"),
        ("A - B 之争", None, "A - B 之争"),
        ("谈诺贝尔奖 - 要闻分析", None, "谈诺贝尔奖 - 要闻分析"),
        ("气候变化 - 生态 健康与科技", "生态-健康与科技", "气候变化"),
        ("气候变化 – 生态健康与科技", "生态-健康与科技", "气候变化"),
        ("气候变化 - 生态 健康", "生态-健康与科技", "气候变化 - 生态 健康"),
        (" - 要闻分析", "要闻分析", " - 要闻分析"),  # never an empty title
    ],
)
def test_strip_title_suffix(title, programme, expected):
    assert strip_title_suffix(title, {"programme": programme}) == expected


def test_unique_in_order():
    assert unique_in_order(["中国", "台海", "中国", "", None, "台海"]) == ["中国", "台海"]
    assert unique_in_order([{"u": 1}, {"u": 1}, {"u": 2}]) == [{"u": 1}, {"u": 2}]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["a", "b"], "a\nb"),
        ([" a\u200b ", "", "  ", "b\n c"], "a\nb c"),
        ("one line", "one line"),
        (["", " "], None),
        ([], None),
    ],
)
def test_block_text(lines, expected):
    assert block_text(lines) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("WBMZ146377-RFI-CN-20251130", "WBMZ146377-RFI-CN-20251130"),
        ("RFI-URL-0123456789ABCDEF0123", "RFI-URL-0123456789ABCDEF0123"),
        ("../../tmp/x", None),
        ("a/b", None),
        ("a\x00b", None),
        ("x" * 101, None),
        ("x" * 100, "x" * 100),
        ("-leading", None),
        ("", None),
        ("中国", None),
    ],
)
def test_valid_id(value, expected):
    assert valid_id(value) == expected


def test_not_a_section():
    assert not_a_section("contenu") is None
    assert not_a_section("Contenu") is None
    assert not_a_section("中国") == "中国"


def test_first_source_takes_one_whole_source_and_runs_later_ones_only_when_needed():
    calls = []

    def later():
        calls.append(1)
        return ["never"]

    first = FirstSource(clean_text)
    assert first([[" ", None], ["a ", "b", " "], later]) == ["a", "b"]
    assert calls == []
    assert first([[], lambda: [" c "]]) == ["c"]
    assert first(["solo", "x"]) == ["solo"]  # a scalar source is a one-value list
    assert first([[None], []]) == []


def test_structured_values_have_their_texts_cleaned():
    image = {"url": "https://s.rfi.fr/a.jpg", "caption": " 图\u200b 说 ", "credit": "  "}
    assert clean_image(image) == {
        "url": "https://s.rfi.fr/a.jpg",
        "caption": "图 说",
        "credit": None,
    }
    entry = {"url": "https://www.rfi.fr/cn/x/20250101-y", "title": ["  ", " 标题 "]}
    assert clean_related(entry)["title"] == "标题"
    assert clean_related({**entry, "title": " 单一 "})["title"] == "单一"
    assert clean_related({**entry, "title": [None, ""]})["title"] is None
