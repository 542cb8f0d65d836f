"""Archive page extractors: year pages, day pages, the sitemap index's months."""

from __future__ import annotations

from datetime import date

import pytest
from parsel import Selector

from rfi_crawler import urls
from rfi_crawler.extract import archive_pages as ap

ORIGIN = "https://www.rfi.fr"
ARCHIVE = "/cn/%E6%A1%A3%E6%A1%88%E8%B5%84%E6%96%99%E5%BA%93"  # /cn/档案资料库
YEAR_URL = f"{ORIGIN}{ARCHIVE}/2021/"
DAY_URL = f"{ORIGIN}{ARCHIVE}/2021/12/08-十二月-2021"
LOCAL = "http://127.0.0.1:8000"

# The archive-years aside as the real 2025 homepage has it (homepage_20251130.html), trimmed.
ASIDE = f"""
<ul class="o-aside-content__archive-years">
    <li class="o-aside-content__archive-years__year">
        <a class="a-archive-link" href="{ARCHIVE}/2021/">2021</a>
    </li>
    <li class="o-aside-content__archive-years__year">
        <a class="a-archive-link" href="{ARCHIVE}/2009/">2009</a>
    </li>
    <li class="o-aside-content__archive-years__year">
        <a class="a-archive-link" href="/cn/档案资料库/2006/">2006</a>
    </li>
    <li class="o-aside-content__archive-years__year"><a href="/cn/关键词/中国/">trap</a></li>
</ul>"""

YEAR_PAGE = f"""<html><body><main>
<div class="o-light-calendar o-light-calendar--year">
  <div class="o-light-calendar__month"><p>十二月 2021</p>
    <ul><li><a href="{ARCHIVE}/2021/12/08-十二月-2021">8</a></li>
        <li class="is-active"><span>
            <a href="/cn/档案资料库/2021/12/09-十二月-2021">9</a></span></li>
        <li><a href="{ARCHIVE}/2021/12/08-十二月-2021">8 again</a></li></ul></div>
  <div class="o-light-calendar__month"><p>二月 2021</p>
    <ul><li><a href="{ARCHIVE}/2021/02/01-二月-2021">1</a></li>
        <li><a href="{ARCHIVE}/2021/02/30-二月-2021">30</a></li>
        <li><a href="/cn/政治/20210201-x">not a day</a></li>
        <li><a href="https://elsewhere.example{ARCHIVE}/2021/02/02-x">offsite</a></li></ul></div>
</div>
<ul class="m-nav"><li><a href="{ARCHIVE}/2021/03/03-三月-2021">outside the calendar</a></li></ul>
{ASIDE}
</main></body></html>"""

DAY_PAGE = """<html><body><main>
<div class="o-archive-day">
  <h2 class="o-archive-day__title">2021年12月8日</h2>
  <ul class="o-archive-day__list">
    <li class="o-archive-day__list__item"><a href="/cn/%E4%B8%AD%E5%9B%BD/20211208-x">
        习近平 <b>会见</b>  </a></li>
    <li><a href="/cn/中國/20211208-習近平">習近平會見</a></li>
    <li><a href="/cn/亚马逊涉垄断-义大利反托拉斯当局开罚11亿欧元">亚马逊涉垄断</a></li>
    <li><a href="/cn/视频/20211208-v">视频</a></li>
    <li><a href="/cn/專欄檢索/要聞分析/20211208-y" title="要聞分析"></a></li>
    <li><a href="/cn/中国/odd-form-no-date">an item the content rule rejects</a></li>
    <li><a href="/cn/中国/20211208-x">duplicate, raw</a></li>
    <li><a href="/cn/tag/中国篇/">legacy hub</a></li>
    <li><a href="/cn/中国/">section</a></li>
    <li><a href="/tw/中國/20211208-z">other edition</a></li>
    <li><a href="http://cn.rfi.fr/中国/20211208-z">old platform</a></li>
  </ul>
</div>
<ul class="m-item-list">
  <li><a href="/cn/中国/20211208-not-listed">a teaser, not the day's list</a></li></ul>
</main></body></html>"""


def test_year_page_calendar_gives_each_day_once_in_date_order():
    found = ap.day_links(Selector(text=YEAR_PAGE), YEAR_URL)
    assert [(d.day, urls.path_of(d.url)) for d in found] == [
        (date(2021, 2, 1), "/cn/档案资料库/2021/02/01-二月-2021"),
        (date(2021, 12, 8), "/cn/档案资料库/2021/12/08-十二月-2021"),
        (date(2021, 12, 9), "/cn/档案资料库/2021/12/09-十二月-2021"),
    ]
    assert all(d.url.startswith(ORIGIN + ARCHIVE) for d in found)


def test_year_page_on_a_replica_keeps_its_links():
    page = YEAR_PAGE.replace(ARCHIVE, LOCAL + ARCHIVE)
    found = ap.day_links(Selector(text=page), LOCAL + ARCHIVE + "/2021/", LOCAL)
    assert len(found) == 3


def test_archive_years_aside():
    found = ap.year_links(Selector(text=YEAR_PAGE), YEAR_URL)
    assert list(found) == [2006, 2009, 2021]
    assert found[2009] == f"{ORIGIN}{ARCHIVE}/2009/"
    assert found[2006] == f"{ORIGIN}{ARCHIVE}/2006/"


def test_day_page_items_with_titles_every_url_form():
    found, others = ap.day_items_and_others(Selector(text=DAY_PAGE), DAY_URL)
    assert others == 4  # a hub, a section, the other edition, the old platform: counted
    assert found == ap.day_items(Selector(text=DAY_PAGE), DAY_URL)
    assert [(urls.path_of(i.url), i.title) for i in found] == [
        ("/cn/中国/20211208-x", "习近平 会见"),
        ("/cn/中國/20211208-習近平", "習近平會見"),
        ("/cn/亚马逊涉垄断-义大利反托拉斯当局开罚11亿欧元", "亚马逊涉垄断"),
        ("/cn/视频/20211208-v", "视频"),
        ("/cn/專欄檢索/要聞分析/20211208-y", "要聞分析"),
        ("/cn/中国/odd-form-no-date", "an item the content rule rejects"),
    ]


@pytest.mark.parametrize(
    "page",
    [
        "<html><body></body></html>",
        "<html><body><div class='o-archive-day'><ul class='o-archive-day__list'></ul></div>",
        "<html><body><ul class='o-archive-day__list'><li><a href='/cn/中国/20211208-x'>x</a>"
        "</li></ul></body></html>",  # a list outside div.o-archive-day is not the day's list
    ],
)
def test_day_page_without_items(page):
    assert ap.day_items(Selector(text=page), DAY_URL) == []


@pytest.mark.parametrize(
    ("path", "day"),
    [
        ("/cn/档案资料库/2021/12/08-十二月-2021", date(2021, 12, 8)),
        ("/cn/档案资料库/2021/12/08--", date(2021, 12, 8)),
        ("/cn/档案资料库/2021/12/08", date(2021, 12, 8)),
        ("/cn/档案资料库/2021/02/30-x", None),
        ("/cn/档案资料库/2021/", None),
        ("/cn/档案资料库/2021/12/", None),
        ("/cn/档案资料库/2021/12/08-x/y", None),
        ("/fr/archives/2021/12/08-decembre-2021", None),
    ],
)
def test_day_of(path, day):
    assert ap.day_of(path) == day


def test_fallback_day_url_is_the_reported_form():
    url = ap.fallback_day_url(date(2019, 3, 5))
    assert urls.path_of(url) == "/cn/档案资料库/2019/03/05--"
    assert ap.day_of(urls.path_of(url)) == date(2019, 3, 5)
    assert urls.path_of(ap.year_url(2019)) == "/cn/档案资料库/2019/"


def test_monthly_sitemaps_of_an_index():
    children = [
        "https://www.rfi.fr/sitemaps/cn/contents_202112.xml",
        "https://www.rfi.fr/sitemaps/cn/tags.xml",
        "https://www.rfi.fr/sitemaps/cn/contents_200601.xml",
        "https://www.rfi.fr/sitemaps/cn/contents_202113.xml",
        "https://www.rfi.fr/sitemaps/cn/shows.xml",
        "https://www.rfi.fr/sitemaps/cn/contents_202112.xml",
    ]
    found = ap.monthly_sitemaps(children)
    assert [(m.year, m.month) for m in found] == [(2006, 1), (2021, 12)]
    assert found[1].url == children[0]
    # One month under 400 paths is read once: the first listed.
    many = [f"https://www.rfi.fr/sitemaps/cn/m{n}/contents_202101.xml" for n in range(400)]
    assert [m.url for m in ap.monthly_sitemaps(many)] == [many[0]]


@pytest.mark.parametrize(
    ("month", "since", "until", "overlaps"),
    [
        ((2021, 12), date(2021, 12, 31), date(2022, 1, 5), True),
        ((2021, 12), date(2021, 1, 1), date(2021, 12, 1), True),
        ((2021, 12), date(2022, 1, 1), date(2022, 2, 1), False),
        ((2021, 12), date(2020, 1, 1), date(2021, 11, 30), False),
    ],
)
def test_monthly_sitemap_overlaps_a_window(month, since, until, overlaps):
    sitemap = ap.MonthlySitemap(*month, "https://www.rfi.fr/sitemaps/cn/contents_x.xml")
    assert sitemap.overlaps(since, until) is overlaps
