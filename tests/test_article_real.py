"""Extraction on the real captured article, as served, and on mutations of it that the
site has shown over the years (RFI_SITE.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from parsel import Selector

from rfi_crawler.extract.article import extract_article
from rfi_crawler.extract.page import template_generation

PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "rfi_pages"
ARTICLE_HTML = (PAGES / "article_20251130_zhengzhi.html").read_text(encoding="utf-8")
HOMEPAGE_HTML = (PAGES / "homepage_20251130.html").read_text(encoding="utf-8")
URL = (
    "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-%E5%8F%B0%E6%B9%BE%E5%A2%9E%E5%8A%A0400"
    "%E4%BA%BF%E7%BE%8E%E5%85%83%E5%9B%BD%E9%98%B2%E5%BC%80%E6%94%AF-%E5%8A%A0%E9%80%9F%E9%83%A8"
    "%E7%BD%B2t-dome%E9%98%B2%E7%A9%BA%E7%B3%BB%E7%BB%9F"
)
TW_URL = URL.replace("/cn/", "/tw/")
IMAGE_1280 = (
    "https://s.rfi.fr/media/display/064ecb9c-caf9-11f0-9b38-005056bfb2b6/w:1280/p:16x9/"
    "000-867R2EZ.jpg"
)
IMAGE_1024 = IMAGE_1280.replace("w:1280", "w:1024")
LD_JSON = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def extract(html: str, url: str = URL):
    return extract_article(Selector(text=html), url)


def ld_document(html: str) -> list:
    return json.loads(LD_JSON.search(html).group(1))


def with_ld(html: str, document: object) -> str:
    text = json.dumps(document, ensure_ascii=False)
    return LD_JSON.sub(lambda _: f'<script type="application/ld+json">{text}</script>', html, 1)


@pytest.fixture(scope="module")
def record():
    return extract(ARTICLE_HTML)


def test_identity_and_language(record):
    assert record.id == "WBMZ146377-RFI-CN-20251130"
    assert record.url == URL
    assert (record.edition, record.language, record.type) == ("cn", "zh-Hans", "article")


def test_headline_fields(record):
    assert record.title == "台湾增加400亿美元国防开支 加速部署T-Dome防空系统"
    assert record.kicker == "台海局势"
    assert record.lead.startswith("法新社消息称，台湾政府计划")
    assert record.lead.endswith("“安全网”。")


def test_dates_authors_section_tags(record):
    assert record.published_at == "2025-11-30T09:13:47+00:00"
    assert record.modified_at == "2025-11-30T09:14:02+00:00"
    assert record.authors == ["左依"]
    assert record.section == "政治"
    assert record.programme is None
    assert record.tags == ["中国", "台海"]


def test_dates_outside_the_calendar_are_passed_over(record):
    # In UTC these fall before year 1: read naively, converting them raises.
    html = re.sub(r"2025-11-30T09:13:47(\+00:00)?", "0001-01-01T00:00:00+05:00", ARTICLE_HTML)
    html = html.replace("30/11/2025 - 10:13", "01/01/0001 - 00:05")
    assert "2025-11-30T09:13:47" not in html
    assert extract(html).published_at == record.published_at  # from a source still valid


def test_image(record):
    assert record.image == {
        "url": IMAGE_1280,
        "caption": "台湾总统赖清德承诺加速部署“T-Dome”，并称其为岛屿的“安全网”。",
        "credit": "AFP - I-HWA CHENG",
    }


def test_body_is_the_text_without_ads_or_promos(record):
    blocks = record.body.split("\n\n")
    assert len(blocks) == 15
    assert blocks[0] == "“T-Dome”是什么？"
    assert (
        blocks[-1]
        == "为了确保“T-Dome”系统的有效运作，军队还需要“学会如何使用这些系统”，汤普森补充道。"
    )
    for noise in ("电邮新闻", "下载法广应用程序", "继续浏览后续", "广告", "订阅"):
        assert noise not in record.body
    assert record.subheadings == ["“T-Dome”是什么？", "为何要建设“T-Dome”？", "何时完成部署？"]
    assert record.char_count == len(record.body)
    assert re.fullmatch(r"[0-9a-f]{64}", record.content_hash)


def test_related_links_translations(record):
    assert len(record.related) == 12
    assert URL not in [link["url"] for link in record.related]
    assert record.related[0]["title"] == "乌克兰代表团周日赴美谈判 泽连斯基周一与马克龙会晤"
    assert (
        record.related[-1]["title"]
        == "俄罗斯：判断俄乌战争是否即将结束为时过早 欧洲的斡旋“毫无意义”"
    )
    assert all(link["url"].startswith("https://www.rfi.fr/cn/%") for link in record.related)
    assert record.links == []
    twin = re.search(r'<link rel="alternate" hreflang="zh-Hant" href="([^"]+)"', ARTICLE_HTML)
    assert record.media == []
    assert record.translations == {"zh-Hant": twin.group(1)}


def test_the_live_radio_player_is_not_article_media(record):
    assert 'data-media-id="direct_rfi_cn"' in ARTICLE_HTML
    assert record.media == []


def core(item) -> dict:
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "lead": item.lead,
        "published_at": item.published_at,
        "authors": item.authors,
        "section": item.section,
        "tags": item.tags,
        "blocks": len(item.body.split("\n\n")),
        "related": len(item.related),
        "image": item.image["url"] if item.image else None,
    }


def mutate_without_json_ld(html: str) -> str:
    return LD_JSON.sub("", html)


def mutate_single_object(html: str) -> str:
    return with_ld(html, ld_document(html)[0])


def mutate_graph(html: str) -> str:
    return with_ld(html, {"@context": "https://schema.org", "@graph": ld_document(html)})


def mutate_keywords_string(html: str) -> str:
    document = ld_document(html)
    document[0]["keywords"] = ",".join(document[0]["keywords"])
    return with_ld(html, document)


def mutate_without_article_metas(html: str) -> str:
    return re.sub(r'\s*<meta property="article:[^>]*>', "", html)


def mutate_without_metas_and_json_ld(html: str) -> str:
    return mutate_without_json_ld(mutate_without_article_metas(html))


def mutate_related_heading(html: str) -> str:
    assert html.count(">其他新闻<") == 1
    return html.replace(">其他新闻<", ">同一主题<")


def mutate_raw_utf8_links(html: str) -> str:
    return re.sub(r'href="(/cn/%[^"]+)"', lambda m: f'href="{unquote(m.group(1))}"', html)


def mutate_ld_not_one_document(html: str) -> str:
    document = ld_document(html)
    texts = "\n".join(json.dumps(part, ensure_ascii=False) for part in document)
    return LD_JSON.sub(lambda _: f'<script type="application/ld+json">{texts}</script>', html, 1)


def mutate_broken_ld_and_datalayer(html: str) -> str:
    html = LD_JSON.sub('<script type="application/ld+json">{"@type": "NewsArt', html, 1)
    return html.replace(
        '<script id="datalayer" type="application/json">',
        '<script id="datalayer" type="application/json">{{',
        1,
    )


VARIANTS = [
    mutate_without_json_ld,
    mutate_single_object,
    mutate_graph,
    mutate_keywords_string,
    mutate_without_article_metas,
    mutate_without_metas_and_json_ld,
    mutate_related_heading,
    mutate_raw_utf8_links,
    mutate_ld_not_one_document,
]


@pytest.mark.parametrize("mutate", VARIANTS, ids=lambda f: f.__name__)
def test_core_fields_survive_markup_variants(record, mutate):
    assert core(extract(mutate(ARTICLE_HTML))) == core(record)


def test_broken_json_ld_and_datalayer_fall_back_to_metas_and_dom(record):
    item = extract(mutate_broken_ld_and_datalayer(ARTICLE_HTML))
    # Without the datalayer the id is derived from the canonical URL.
    assert item.id.startswith("RFI-URL-")
    assert {**core(item), "id": record.id} == core(record)


def test_lazy_placeholder_src_takes_the_largest_srcset_rendition():
    html = re.sub(r'\s*<meta property="og:image"[^>]*>', "", ARTICLE_HTML)
    document = ld_document(html)
    del document[0]["image"]
    html = with_ld(html, document)
    html = html.replace(
        f'src="{IMAGE_1024}"', 'src="data:image/gif;base64,R0lGODlhAQABAAAAACw="', 1
    )
    item = extract(html)
    assert item.image["url"] == IMAGE_1024
    assert item.image["credit"] == "AFP - I-HWA CHENG"


def test_traditional_edition():
    twin = re.search(
        r'<link rel="alternate" hreflang="zh-Hant" href="([^"]+)"', ARTICLE_HTML
    ).group(1)
    html = (
        ARTICLE_HTML.replace('lang="zh-Hans"', 'lang="zh-Hant"', 1)
        .replace(
            f'<link rel="alternate" hreflang="zh-Hant" href="{twin}">',
            f'<link rel="alternate" hreflang="zh-Hans" href="{URL}">',
        )
        .replace(f'<link rel="canonical" href="{URL}">', f'<link rel="canonical" href="{twin}">')
    )
    item = extract(html, twin)
    assert (item.edition, item.language) == ("tw", "zh-Hant")
    assert item.url == twin
    assert item.translations == {"zh-Hans": URL}
    assert item.title == "台湾增加400亿美元国防开支 加速部署T-Dome防空系统"


@pytest.mark.parametrize(
    ("html", "url"),
    [
        (HOMEPAGE_HTML, "https://www.rfi.fr/cn/"),
        (
            HOMEPAGE_HTML.replace(
                '<link rel="canonical" href="https://www.rfi.fr/cn/">',
                '<link rel="canonical" href="https://www.rfi.fr/cn/关键词/中国/">',
            ),
            "https://www.rfi.fr/cn/%E5%85%B3%E9%94%AE%E8%AF%8D/%E4%B8%AD%E5%9B%BD/",
        ),
        ("<html><body><p>not RFI</p></body></html>", URL.replace("20251130-", "x")),
    ],
    ids=["homepage", "keyword-hub", "not-content-url"],
)
def test_pages_that_are_not_articles_yield_no_record(html, url):
    assert extract(html, url) is None


def test_the_dom_alone_still_gives_the_core_fields(record):
    html = mutate_without_metas_and_json_ld(ARTICLE_HTML)
    html = re.sub(r'<script id="datalayer".*?</script>', "", html, count=1, flags=re.S)
    html = re.sub(r'\s*<meta property="og:(title|description|image)"[^>]*>', "", html)
    item = extract(html)
    assert item.id.startswith("RFI-URL-")
    assert {**core(item), "id": record.id, "image": IMAGE_1280} == core(record)
    assert item.image["url"] == IMAGE_1024  # the largest rendition the page itself offers
    assert item.modified_at is None  # only the metas and JSON-LD carry it on this page


@pytest.mark.parametrize(
    ("html", "generation"),
    [
        (
            '<article data-article-content><div class="m-pub-dates__date"><time datetime="x">'
            '</time></div></article><div class="t-content__tags"><ul class="m-tags-list"><li>'
            '<a class="a-hot-tag" href="/cn/关键词/中国/">中国</a></li></ul></div>',
            "current",
        ),
        (
            '<article data-article-content><div class="m-pub-dates__date"><time datetime="x">'
            '</time></div></article><div class="t-content__tags"><ul class="m-tags-list">'
            '<li class="m-tags-list__tag"><a href="/cn/关键词/中国/">中国</a></li></ul></div>',
            "2022-2023",
        ),
        ('<article class="t-content__article"><p>x</p></article>', "2020-2021"),
        (
            '<article class="t-content__article"><p>x</p></article><div class="t-content__tags">'
            '<ul class="m-tags-list"><li><a href="/cn/关键词/x/">x</a></li></ul></div>',
            "2022-2023",
        ),
        ("<div><p>a listing or the pre-2020 platform</p></div>", "unknown"),
        ("<article data-article-content><p>no dates</p></article>", "unknown"),
    ],
)
def test_template_generation_of_hand_made_pages(html, generation):
    assert template_generation(Selector(text=f"<html><body>{html}</body></html>")) == generation


def test_the_real_page_is_the_current_template():
    assert template_generation(Selector(text=ARTICLE_HTML)) == "current"
    assert template_generation(Selector(text=HOMEPAGE_HTML)) == "unknown"
