"""URL rules: pure functions, long tables."""

from __future__ import annotations

from datetime import date

import pytest

from rfi_crawler import urls

ENCODED = "/cn/%E6%94%BF%E6%B2%BB/20251130-%E5%8F%B0%E6%B9%BE-t-dome"
RAW = "/cn/政治/20251130-台湾-t-dome"
CANONICAL = "https://www.rfi.fr" + ENCODED
LOCAL = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("href", "page", "base", "expected"),
    [
        (ENCODED, "https://www.rfi.fr/cn/", None, CANONICAL),
        (RAW, "https://www.rfi.fr/cn/", None, CANONICAL),
        ("https://www.rfi.fr" + RAW, "https://www.rfi.fr/cn/", None, CANONICAL),
        (
            "http://www.rfi.fr//cn/%E6%94%BF%E6%B2%BB/20251130-%E5%8F%B0%E6%B9%BE-t-dome",
            "https://www.rfi.fr/cn/",
            None,
            CANONICAL,
        ),
        ("https://www.rfi.fr//" + ENCODED.lstrip("/"), "https://www.rfi.fr/cn/", None, CANONICAL),
        (ENCODED + "/", "https://www.rfi.fr/cn/", None, CANONICAL),
        (ENCODED + "?xtor=RSS-1#top", "https://www.rfi.fr/cn/", None, CANONICAL),
        ("https://rfi.fr" + ENCODED, "https://www.rfi.fr/cn/", None, CANONICAL),
        (ENCODED.lower().replace("/cn/", "/cn/"), "https://www.rfi.fr/cn/", None, CANONICAL),
        (LOCAL + ENCODED, LOCAL + "/cn/", LOCAL, CANONICAL),
        (ENCODED, LOCAL + "/cn/", LOCAL, CANONICAL),
        (LOCAL + ENCODED, "https://www.rfi.fr/cn/", None, None),  # another host
        ("https://savoirs.rfi.fr/cn/apprendre-enseigner", "https://www.rfi.fr/cn/", None, None),
        (
            "https://s.rfi.fr/media/display/x/w:1280/p:16x9/a.jpg",
            "https://www.rfi.fr/cn/",
            None,
            None,
        ),
        ("/cn/关键词/中国/", "https://www.rfi.fr/cn/", None, None),
        ("/cn/作者/左依/", "https://www.rfi.fr/cn/", None, None),
        ("/cn/政治/", "https://www.rfi.fr/cn/", None, None),
        ("/cn/直播", "https://www.rfi.fr/cn/", None, None),
        ("/cn/我们是谁", "https://www.rfi.fr/cn/", None, None),
        ("/cn/档案资料库/2024/", "https://www.rfi.fr/cn/", None, None),
        ("/tw/政治/20251130-台灣", "https://www.rfi.fr/cn/", None, None),  # other edition
        ("/fr/france/20251130-x", "https://www.rfi.fr/cn/", None, None),
        ("whatsapp://send?text=x", "https://www.rfi.fr/cn/", None, None),
        ("mailto:a@b.c", "https://www.rfi.fr/cn/", None, None),
        ("#main-content", "https://www.rfi.fr/cn/", None, None),
        ("", "https://www.rfi.fr/cn/", None, None),
        ("/cn/%E6%94%BF/20251130-%FF%FE", "https://www.rfi.fr/cn/", None, None),  # not UTF-8
        (
            "/cn/%E4%B8%93%E6%A0%8F%E6%A3%80%E7%B4%A2/%E8%A6%81%E9%97%BB/20201005-x",
            "https://www.rfi.fr/cn/",
            None,
            "https://www.rfi.fr/cn/%E4%B8%93%E6%A0%8F%E6%A3%80%E7%B4%A2/%E8%A6%81%E9%97%BB/20201005-x",
        ),
        ("/cn/a/b/c/20201005-x", "https://www.rfi.fr/cn/", None, None),  # too deep
        ("/cn/20201005-x", "https://www.rfi.fr/cn/", None, None),  # 2021 wire briefs: no section
    ],
)
def test_canonical_content_url(href, page, base, expected):
    assert urls.canonical_content_url(href, page, base) == expected


def test_lower_case_escapes_are_upper_cased():
    lower = "/cn/%e6%94%bf%e6%b2%bb/20251130-%e5%8f%b0%e6%b9%be-t-dome"
    assert urls.canonical_content_url(lower, "https://www.rfi.fr/cn/") == CANONICAL


def test_tw_edition_is_content_when_asked_for():
    url = urls.canonical_content_url(
        "/tw/政治/20251130-台灣", "https://www.rfi.fr/", editions=("cn", "tw")
    )
    assert url == "https://www.rfi.fr/tw/%E6%94%BF%E6%B2%BB/20251130-%E5%8F%B0%E7%81%A3"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.rfi.fr/cn/", "https://www.rfi.fr/cn/"),
        ("https://www.rfi.fr/cn/政治/", "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/"),
        ("http://www.rfi.fr/cn/政治/2/?page=2", "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/2/"),
        ("https://www.rfi.fr" + RAW + "/", CANONICAL),
        ("https://example.org/cn/", None),
        ("ftp://www.rfi.fr/cn/", None),
    ],
)
def test_canonical_url(url, expected):
    assert urls.canonical_url(url) == expected


@pytest.mark.parametrize(
    ("path", "section", "tag"),
    [
        ("/cn/政治/", True, False),
        ("/cn/专栏检索/", True, False),
        ("/cn/", False, False),
        ("/cn/直播", False, False),
        ("/cn/关键词/中国/", False, True),
        ("/cn/关键词/中国", False, True),
        ("/cn/政治/2/", False, False),
        (RAW, False, False),
    ],
)
def test_section_and_tag_paths(path, section, tag):
    assert urls.is_section_path(path) is section
    assert urls.is_tag_path(path) is tag


@pytest.mark.parametrize(
    ("path", "listing", "expected"),
    [
        ("/cn/中国/", "/cn/中国/", 1),
        ("/cn/中国/2/", "/cn/中国/", 2),
        ("/cn/中国/12", "/cn/中国/", 12),
        ("/cn/中国/x/", "/cn/中国/", None),
        ("/cn/港澳台/2/", "/cn/中国/", None),
        ("/cn/中国/20251130-x", "/cn/中国/", None),
    ],
)
def test_listing_page_number(path, listing, expected):
    assert urls.listing_page_number(path, listing) == expected


@pytest.mark.parametrize(
    ("path", "day", "section", "programme", "edition"),
    [
        (RAW, date(2025, 11, 30), "政治", None, "cn"),
        ("/cn/专栏检索/要闻分析/20201005-x", date(2020, 10, 5), None, "要闻分析", "cn"),
        ("/cn/国际报道/20251130-x", date(2025, 11, 30), "国际报道", None, "cn"),
        ("/tw/政治/20251130-x", date(2025, 11, 30), "政治", None, "tw"),
        ("/cn/政治/20251331-x", None, "政治", None, "cn"),  # no 31st month
        ("/cn/政治/", None, None, None, "cn"),
        ("/fr/", None, None, None, None),
    ],
)
def test_path_facts(path, day, section, programme, edition):
    assert urls.date_in_path(path) == day
    assert urls.section_in_path(path) == section
    assert urls.programme_in_path(path) == programme
    assert urls.edition_of(path) == edition


def test_derived_id_is_stable_and_documented():
    assert urls.derived_id(CANONICAL) == urls.derived_id(CANONICAL)
    assert urls.derived_id(CANONICAL).startswith("RFI-URL-")
    assert len(urls.derived_id(CANONICAL)) == len("RFI-URL-") + 20
    assert urls.derived_id(CANONICAL) != urls.derived_id(CANONICAL + "-2")


def test_to_origin_maps_the_site_onto_a_replica():
    assert urls.to_origin(CANONICAL, LOCAL) == LOCAL + ENCODED
    assert urls.to_origin(CANONICAL, "https://www.rfi.fr/") == CANONICAL
