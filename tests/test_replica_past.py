"""The replica's past: archive pages, monthly sitemaps, old templates and URL forms."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from urllib.parse import quote

import pytest
from parsel import Selector
from scrapy.utils.sitemap import Sitemap

from rfi_crawler import urls
from rfi_crawler.extract import archive_pages as ap
from tests.replica.past import ARCHIVE_GAP, day_path, paris_day
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

TODAY = date(2025, 12, 1)
ORIGIN = "https://www.rfi.fr"


@pytest.fixture(scope="module")
def site() -> ReplicaSite:
    return ReplicaSite(articles=60, seed=7, today=TODAY, years=(2006, 2025), past_per_year=8)


@pytest.fixture
def server(site):
    site.past.status.clear()
    server = ReplicaServer(site)  # route() answers without the socket being served
    yield server
    server.httpd.server_close()


def get(server: ReplicaServer, url_or_path: str) -> tuple[int, str]:
    path = urls.path_of(url_or_path) if url_or_path.startswith("http") else url_or_path
    status, _, body = server.route(path)
    return status, body


def walk_archive(server: ReplicaServer, year: int) -> dict[str, str | None]:
    """Item URL → title, through the year page's calendar and the day pages."""
    status, body = get(server, ap.year_url(year))
    assert status == 200
    items: dict[str, str | None] = {}
    for link in ap.day_links(Selector(text=body), ap.year_url(year)):
        status, day_body = get(server, link.url)
        assert status == 200
        for item in ap.day_items(Selector(text=day_body), link.url):
            items[item.url] = item.title
    return items


def test_without_years_the_site_is_unchanged():
    plain = ReplicaSite(articles=60, seed=7, today=TODAY)
    with_past = ReplicaSite(articles=60, seed=7, today=TODAY, years=(2006, 2025))
    assert plain.past is None
    assert [a.path for a in plain.articles] == [a.path for a in with_past.articles]
    assert set(plain.by_path) == {a.path for a in plain.articles}
    server = ReplicaServer(plain)
    assert server.route("/cn/档案资料库/2021/")[0] == 404
    assert server.route("/sitemaps/cn/index.xml")[0] == 404
    server.httpd.server_close()
    for article in plain.articles[:5]:
        other = with_past.by_path[article.path]
        assert plain.render_article(article) == with_past.render_article(other)
    assert plain.render_homepage() == with_past.render_homepage()
    with pytest.raises(ValueError, match="no past"):
        plain.expected_in_window(date(2020, 1, 1), date(2020, 12, 31))


def test_year_pages_and_the_archive_years_aside_have_the_real_gaps(site, server):
    years = [2006, *range(2009, 2026)]
    for year in range(2006, 2026):
        assert get(server, ap.year_url(year))[0] == (404 if year in ARCHIVE_GAP else 200)
    _, body = get(server, ap.year_url(2015))
    assert list(ap.year_links(Selector(text=body), ap.year_url(2015))) == years


def test_the_calendar_and_day_pages_list_every_archived_article(site, server):
    listed: dict[str, str | None] = {}
    for year in site.past.years:
        listed |= walk_archive(server, year)
    expected = {a.url: a.display_title for a in site.past.all_articles()}
    assert listed == expected
    assert len(expected) == 8 * 18 + 60  # 8 a year over 18 archive years + the current 60


def test_sitemap_index_and_monthly_sitemaps_list_the_same_articles(site, server):
    status, index = get(server, "/sitemaps/cn/index.xml")
    assert status == 200
    children = [e["loc"] for e in Sitemap(index.encode())]
    assert f"{ORIGIN}/sitemaps/cn/tags.xml" in children
    found = set()
    for month in ap.monthly_sitemaps(children):
        status, body = get(server, month.url)
        assert status == 200
        found |= {e["loc"] for e in Sitemap(body.encode())}
    assert found == {a.url for a in site.past.all_articles()}


def test_three_template_generations_in_their_real_markup(site):
    by_generation = {}
    for article in site.past.articles:
        if not article.video:
            by_generation.setdefault(article.generation, article)
    assert set(by_generation) == {"2020", "2022", "current"}
    old = Selector(text=site.render_article(by_generation["2020"]))
    assert not old.css("script#datalayer")
    assert not old.css('script[type="application/ld+json"]')
    assert old.css(".t-content__main-media img::attr(src)").get().startswith("data:image/gif")
    assert old.css(".t-content__main-media img::attr(srcset)").get()
    assert old.css("div.t-content__tags ul.m-tags-list li.m-tags-list__tag a")
    assert not old.css(".t-content__tags a.a-hot-tag")
    assert all(h.startswith("/cn/tag/") for h in old.css(".t-content__tags a::attr(href)").getall())
    mid = Selector(text=site.render_article(by_generation["2022"]))
    assert mid.css("script#datalayer")
    assert '"keywords": "' in mid.css('script[type="application/ld+json"]::text').get()
    assert mid.css("ul.m-tags-list li.m-tags-list__tag a")
    assert not mid.css(".t-content__tags a.a-hot-tag")
    assert mid.css(".t-content__main-media img::attr(src)").get().startswith("data:")
    current = Selector(text=site.render_article(by_generation["current"]))
    assert current.css(".t-content__tags a.a-hot-tag")
    assert current.css("script#datalayer")
    years = {g: a.published.year for g, a in by_generation.items()}
    assert years["2020"] <= 2021 and 2022 <= years["2022"] <= 2023 and years["current"] >= 2024


def test_old_url_forms_are_in_the_2020_2021_archive(site):
    paths = [a.path for a in site.past.articles if a.published.year in (2020, 2021)]
    assert any(urls.is_dateless_wire_path(p) for p in paths)
    assert any(p.startswith("/cn/中國/") or p.startswith("/cn/歐洲/") for p in paths)
    assert any(p.startswith("/cn/專欄檢索/要聞分析/") for p in paths)
    assert any(p.startswith("/cn/视频/") for p in paths)
    video = next(a for a in site.past.articles if a.video)
    page = Selector(text=site.render_article(video))
    assert page.css("script[data-media-video-id]")
    # every form is served, and an article of the content rule or of the archive's authority
    assert all(urls.archive_item_url(ORIGIN + quote(p), ORIGIN + "/cn/") for p in paths)


def test_legacy_keyword_hub_is_a_listing(site, server):
    tag = next(a for a in site.past.articles if a.generation == "2020").tags[0]
    status, body = get(server, f"/cn/tag/{tag}/")
    assert status == 200
    assert Selector(text=body).css("[data-article-item-link]")


def test_expected_in_window(site):
    since, until = date(2020, 1, 1), date(2021, 12, 31)
    window = site.expected_in_window(since, until)
    in_window = [a for a in site.past.articles if since.year <= a.published.year <= until.year]
    assert window and window <= {a.path for a in in_window} | {a.path for a in site.articles}
    assert len(window) == 16
    assert not site.expected_in_window(date(2007, 1, 1), date(2008, 12, 31))
    one = next(iter(sorted(window)))
    site.faults[one] = "gone_404"
    try:
        assert site.expected_in_window(since, until) == window - {one}
    finally:
        del site.faults[one]


def test_window_edges_follow_the_paris_day(site):
    # a current article published after 22:00 UTC belongs to the next day in Paris
    late = next(
        a
        for a in site.articles
        if paris_day(a) != a.published.date() and a.index not in site.unfetchable()
    )
    assert late.path in site.expected_in_window(paris_day(late), paris_day(late))
    assert late.path not in site.expected_in_window(late.published.date(), late.published.date())


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("year", "/cn/档案资料库/2021/"),
        ("day", day_path(date(2021, 3, 5))),
        ("index", "/sitemaps/cn/index.xml"),
        ("monthly", "/sitemaps/cn/contents_202103.xml"),
    ],
)
@pytest.mark.parametrize("status", [403, 404])
def test_each_archive_source_switches_off_or_blocks(site, server, source, path, status):
    site.past.status[source] = status
    assert server.route(path)[0] == status
    # the other sources still answer
    other = "/sitemaps/cn/index.xml" if source == "year" else "/cn/档案资料库/2022/"
    assert server.route(other)[0] == 200


def test_the_built_fallback_day_url_lists_the_same_day(site, server):
    day = min(d for d in site.past.days_with_items() if d.year == 2021)
    _, linked = get(server, day_path(day))
    _, built = get(server, ap.fallback_day_url(day))
    items = ap.day_items(Selector(text=linked), ORIGIN + quote(day_path(day)))
    assert items
    assert ap.day_items(Selector(text=built), ap.fallback_day_url(day)) == items
    assert server.route("/cn/档案资料库/2021/02/30--")[0] == 404


def test_day_pages_are_served_over_http(site):
    day = site.past.days_with_items()[0]
    with ReplicaServer(site) as server:
        from urllib.request import urlopen

        with urlopen(server.base_url + quote(day_path(day))) as answer:
            assert answer.status == 200
            body = answer.read().decode()
    items = ap.day_items(
        Selector(text=body), server.base_url + quote(day_path(day)), server.base_url
    )
    assert {i.url for i in items} == {a.url for a in site.past.by_day()[day]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--articles", "5"], "--articles: expected a whole number, at least 40"),
        (["--years", "2025-2006"], "must not run backwards"),
        (["--years", "twenty"], "not a year range"),
        (["--years", "2006-2025", "--past-per-year", "1"], "--past-per-year must be at least"),
    ],
)
def test_cli_rejects_bad_arguments_with_one_clear_line(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "tests.replica", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_every_generation_and_url_form_extracts_to_its_expected_record(site):
    from rfi_crawler.extract.article import extract_article

    crawl = {"fetched_at": "2025-12-01T00:00:00+00:00", "via": "url", "referer": None, "depth": 0}
    kinds = {}
    for article in site.past.articles:
        segments = article.path.split("/")
        kinds.setdefault((article.generation, segments[2] if len(segments) > 3 else ""), article)
    assert len(kinds) >= 15
    for article in kinds.values():
        selector = Selector(text=site.render_article(article))
        item = extract_article(selector, article.url, None, crawl)
        assert item is not None, article.path
        got = {k: v for k, v in item.__dict__.items() if k != "crawl"}
        expected = site.expected_record(article)
        assert {k: got.get(k) for k in expected} == expected, article.path


def test_monthly_sitemaps_of_a_window_cover_it_through_the_archive_rule(site, server):
    from rfi_crawler.extract.feeds import iter_sitemap

    since, until = date(2021, 2, 15), date(2021, 11, 10)
    _, index = get(server, "/sitemaps/cn/index.xml")
    children = [e.url for e in iter_sitemap(index.encode(), ORIGIN + "/sitemaps/cn/index.xml")]
    months = [m for m in ap.monthly_sitemaps(children) if m.overlaps(since, until)]
    assert next((m.year, m.month) for m in months) == min(
        (d.year, d.month) for d in site.past.days_with_items() if since <= d <= until
    )
    found = set()
    for month in months:
        _, body = get(server, month.url)
        entries = iter_sitemap(body.encode(), month.url, item_rule=urls.archive_item_url)
        found |= {urls.path_of(e.url) for e in entries}
    window = site.expected_in_window(since, until)
    assert window <= found
    # what the months add lies outside the window: the page's date tells, not the sitemap
    extra = [site.by_path[p] for p in found - window]
    assert extra  # the window cuts February and November in two
    assert all(not since <= paris_day(a) <= until for a in extra)


def test_old_pages_give_records_the_schema_accepts(site):
    import dataclasses

    from rfi_crawler.extract.article import extract_article
    from rfi_crawler.schema import validation_errors

    crawl = {"fetched_at": "2025-12-01T00:00:00+00:00", "via": "url", "referer": None, "depth": 0}
    media_only = [a for a in site.past.articles if a.video and not a.blocks]
    credited = [a for a in site.past.articles if a.credit]
    assert media_only and credited
    for article in [*media_only, *credited, *site.past.articles[::7]]:
        item = extract_article(
            Selector(text=site.render_article(article)), article.url, None, crawl
        )
        record = dataclasses.asdict(item)
        record.pop("version", None)  # assigned at export
        assert validation_errors(record) == [], article.path
    item = extract_article(
        Selector(text=site.render_article(media_only[0])), media_only[0].url, None, crawl
    )
    assert (item.body, item.type) == (None, "video")
