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
        ("/cn/20201005-x", "https://www.rfi.fr/cn/", None, None),  # no CJK: not a wire brief
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


WIRE = "/cn/亚马逊涉垄断-义大利反托拉斯当局开罚11亿欧元"


@pytest.mark.parametrize(
    ("path", "content"),
    [
        # dateless AFP wire briefs of 2021 (seed corpus, 2021 crawl record)
        (WIRE, True),
        ("/cn/欧股收高", True),
        ("/cn/全球需求增-国际油价陡升", True),
        (WIRE + "/", False),  # with a slash it would be a section
        ("/cn/20201005-x", False),
        ("/cn/subscribe", False),
        ("/cn/site.manifest", False),
        ("/cn/rss", False),
        # known one-segment pages and sections written without a slash
        ("/cn/直播", False),
        ("/cn/应用", False),
        ("/cn/我们是谁", False),
        ("/cn/如何收听法广", False),
        ("/cn/视频", False),
        ("/cn/美洲", False),
        ("/cn/亚洲", False),
        ("/cn/滚动新闻", False),
        # traditional-script twins under /cn/ (2021)
        ("/cn/中國/20211208-習近平", True),
        ("/cn/歐洲/20211208-x", True),
        ("/cn/專欄檢索/要聞分析/20211208-x", True),
        ("/cn/視頻/20211208-x", True),
        # video pages
        ("/cn/视频/20210305-法国总统", True),
        # legacy keyword hubs and other non-content subtrees
        ("/cn/tag/中国篇/", False),
        ("/cn/tag/新冠病毒/", False),
        ("/cn/tag/新冠病毒/20211208-x", False),
        ("/cn/关键词/中国/20211208-x", False),
        ("/cn/档案资料库/2019/20190305-x", False),
        ("/cn/作者/左依/20190305-x", False),
        ("/cn/档案资料库/2019/03/05--", False),
        ("/tw/欧股收高", False),
        ("/fr/欧股收高", False),
    ],
)
def test_old_url_forms(path, content):
    assert urls.is_content_path(path) is content


def test_dateless_wire_item_is_canonicalised_without_date():
    url = urls.canonical_content_url(WIRE, "https://www.rfi.fr/cn/")
    assert url == "https://www.rfi.fr" + urls.quote_path(WIRE)
    assert urls.date_in_path(WIRE) is None
    assert urls.section_in_path(WIRE) is None


@pytest.mark.parametrize(
    ("path", "section", "programme"),
    [
        ("/cn/專欄檢索/要聞分析/20211208-x", None, "要聞分析"),
        ("/cn/中國/20211208-x", "中國", None),
        ("/cn/视频/20210305-x", "视频", None),
    ],
)
def test_old_url_forms_facts(path, section, programme):
    assert urls.section_in_path(path) == section
    assert urls.programme_in_path(path) == programme


@pytest.mark.parametrize(
    ("path", "tag"),
    [("/cn/tag/中国篇/", True), ("/cn/tag/新冠病毒", True), ("/cn/tag/", False)],
)
def test_legacy_keyword_hubs_are_hubs(path, tag):
    assert urls.is_tag_path(path) is tag


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # chinese.rfi.fr served the same tree in 2022: mapped onto www.rfi.fr
        (
            "https://chinese.rfi.fr/cn/政治/20220301-x",
            "https://www.rfi.fr" + urls.quote_path("/cn/政治/20220301-x"),
        ),
        ("http://chinese.rfi.fr//cn/政治/", "https://www.rfi.fr" + urls.quote_path("/cn/政治/")),
        # the pre-2020 platform: left alone
        ("http://cn.rfi.fr/中国/20150301-x", None),
        ("http://trad.cn.rfi.fr/中國/20150301-x", None),
        ("https://savoirs.rfi.fr/cn/x", None),
    ],
)
def test_other_hosts_of_the_tree(url, expected):
    assert urls.canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "legacy"),
    [
        ("http://cn.rfi.fr/中国/20150301-x", True),
        ("http://TRAD.CN.RFI.FR/x", True),
        ("https://chinese.rfi.fr/cn/x", False),
        ("https://www.rfi.fr/cn/x", False),
        ("http://[::1", False),
    ],
)
def test_legacy_platform_url(url, legacy):
    assert urls.legacy_platform_url(url) is legacy


DAY = "https://www.rfi.fr/cn/档案资料库/2021/03/05-三月-2021"


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        # what the content rule accepts
        ("/cn/政治/20210305-x", None, "/cn/政治/20210305-x"),
        (WIRE, None, WIRE),
        ("/cn/中國/20210305-x/", None, "/cn/中國/20210305-x"),
        # what it rejects but the archive lists: still an item
        ("/cn/中国/x-20210305", None, "/cn/中国/x-20210305"),
        ("/cn/abc-def", None, "/cn/abc-def"),
        ("/cn/a/b/c/20201005-x", None, "/cn/a/b/c/20201005-x"),
        (LOCAL + "/cn/政治/20210305-x", LOCAL, "/cn/政治/20210305-x"),
        ("https://chinese.rfi.fr/cn/政治/20210305-x", None, "/cn/政治/20210305-x"),
        # never items: listings, hubs, static pages, other editions and hosts
        ("/cn/", None, None),
        ("/cn/政治/", None, None),
        ("/cn/政治/2/", None, None),
        ("/cn/专栏检索/要闻分析/", None, None),
        ("/cn/关键词/中国/", None, None),
        ("/cn/tag/中国篇/", None, None),
        ("/cn/作者/左依/", None, None),
        ("/cn/档案资料库/2021/", None, None),
        ("/cn/档案资料库/2021/03/05--", None, None),
        ("/cn/直播", None, None),
        ("/cn/视频", None, None),
        ("/cn/rss", None, None),
        ("/cn/政治/rss", None, None),
        ("/tw/政治/20210305-x", None, None),
        ("/fr/france/20210305-x", None, None),
        ("http://cn.rfi.fr/cn/政治/20210305-x", None, None),
        (LOCAL + "/cn/政治/20210305-x", None, None),
        ("https://savoirs.rfi.fr/cn/x", None, None),
        ("mailto:a@b.c", None, None),
    ],
)
def test_archive_item_url(href, base, expected):
    want = None if expected is None else "https://www.rfi.fr" + urls.quote_path(expected)
    assert urls.archive_item_url(href, DAY, base) == want


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://www.rfi.fr/cn/", "https://www.rfi.fr"),
        ("HTTPS://WWW.RFI.FR:443/cn/", "https://www.rfi.fr"),
        ("http://Mirror.example:80", "http://mirror.example"),
        ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
        ("https://www.rfi.fr@evil.example/", None),  # userinfo
        ("ftp://www.rfi.fr/", None),
        ("http://www.rfi.fr:99999/", None),
        ("/cn/relative", None),
        ("http://[::1", None),  # no URL: urlsplit itself refuses it
    ],
)
def test_an_origin_has_one_spelling(url, origin):
    assert urls.origin_of(url) == origin
