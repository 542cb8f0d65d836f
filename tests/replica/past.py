"""The replica's past: year and day archive pages, monthly sitemaps, and older articles.

What is known of the real pages is in ../shared/RFI_SITE.md ("Learned since (2026-11)"):
year pages ``/cn/档案资料库/<YYYY>/`` with a calendar (``div.o-light-calendar ul li a``)
and the archive-years aside (2006, then 2009 on); day pages listing a day's items in
``div.o-archive-day ul.o-archive-day__list li a`` (text = title); the sitemap index
``/sitemaps/cn/index.xml`` with monthly ``contents_YYYYMM.xml``. Markup around those
selectors is a guess. Older articles come in three template generations:

* ``"2020"`` (2006–2021): no JSON-LD, no datalayer, ``data:`` image placeholders, tags
  in ``ul.m-tags-list`` linking the legacy hubs ``/cn/tag/<tag>/``; in 2020–2021 also the
  old URL forms: traditional-script twins (``/cn/中國/…``, ``/cn/專欄檢索/…``), video pages
  ``/cn/视频/…`` and (2021) dateless wire briefs ``/cn/<slug>``;
* ``"2022"`` (2022–2023): one JSON-LD object with keywords as a string, the datalayer,
  tags in ``ul.m-tags-list`` without ``a-hot-tag``, ``data:`` placeholders;
* ``"current"`` (2024 on): today's template.

Past articles are listed only by the archive (and related asides of their own year).
"""

from __future__ import annotations

import calendar
import html
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from tests.replica.site import Article, ReplicaSite

PARIS = ZoneInfo("Europe/Paris")
ORIGIN = "https://www.rfi.fr"
ARCHIVE = "档案资料库"
FIRST_YEAR = 2006
# The archive-years aside of 2021 and of 2025 lists 2006, then 2009 on (no 2007, 2008).
ARCHIVE_GAP = frozenset({2007, 2008})
MONTHS = (
    "一月",
    "二月",
    "三月",
    "四月",
    "五月",
    "六月",
    "七月",
    "八月",
    "九月",
    "十月",
    "十一月",
    "十二月",
)
PAST_INDEX = 10_000_000  # past articles' indexes start here, clear of current ones
TRAD_SECTIONS = ("中國", "歐洲")
TRAD_PROGRAMME = ("專欄檢索", "要聞分析")
TRAD_WORDS = ("中國", "臺灣", "總統", "會談", "經濟", "政府", "宣佈", "歐盟", "議會", "選舉")
VIDEO_SECTION = "视频"
# Which URL forms each year's articles take, in turn; 2021 has every old form.
FORMS = {
    2021: ("plain", "wire_dateless", "trad", "trad_programme", "video", "programme"),
    2020: ("plain", "trad", "video", "programme", "trad_programme", "wire"),
}
OTHER_FORMS = ("plain", "plain", "wire", "programme")
MIN_PER_YEAR = len(FORMS[2021])
# Statuses the archive can be switched to, per source, to test fallbacks.
SOURCES = ("year", "day", "index", "monthly")


def paris_day(article: Article) -> date:
    return article.published.astimezone(PARIS).date()


def generation_of(year: int) -> str:
    return "2020" if year <= 2021 else "2022" if year <= 2023 else "current"


def day_path(day: date) -> str:
    """The day page's path as the calendar links it (``<DD>-<month>-<YYYY>``; [guess]:
    the server ignores what follows ``<DD>-``, as the real site seems to)."""
    return (
        f"/cn/{ARCHIVE}/{day.year}/{day.month:02d}/{day.day:02d}-{MONTHS[day.month - 1]}-{day.year}"
    )


def year_path(year: int) -> str:
    return f"/cn/{ARCHIVE}/{year}/"


class ReplicaPast:
    def __init__(self, site: ReplicaSite, years: tuple[int, int], per_year: int, seed: int) -> None:
        first, last = years
        if not FIRST_YEAR <= first <= last:
            raise ValueError(f"years must run from {FIRST_YEAR} on, first ≤ last: {years}")
        if per_year < MIN_PER_YEAR:
            raise ValueError(f"a past needs at least {MIN_PER_YEAR} articles a year")
        self.site = site
        self.first, self.last = first, min(last, site.today.year)
        self.years = [y for y in range(first, self.last + 1) if y not in ARCHIVE_GAP]
        self.status: dict[str, int] = {}  # a source in SOURCES → 403 (blocked) or 404 (off)
        self.articles: list[Article] = []
        self._by_day: tuple[tuple[int, int], dict[date, list[Article]]] | None = None
        rng = random.Random(seed * 7919 + 1)
        # Past articles stop a month before today: the current articles are the recent ones.
        newest = site.today - timedelta(days=31)
        for year in self.years:
            start, end = date(year, 1, 1), min(date(year, 12, 31), newest)
            if end < start:
                continue
            span = (end - start).days + 1
            forms = FORMS.get(year, OTHER_FORMS)
            for k in range(per_year):
                day = start + timedelta(days=rng.randrange(span))
                self._new(rng, day, generation_of(year), forms[k % len(forms)], k)
        by_year: dict[int, list[Article]] = {}
        for article in self.articles:
            by_year.setdefault(paris_day(article).year, []).append(article)
        for same_year in by_year.values():
            for position, article in enumerate(same_year):
                others = [same_year[(position + step) % len(same_year)] for step in (1, 2)]
                article.related = [article.index, *dict.fromkeys(o.index for o in others)]

    def _new(self, rng: random.Random, day: date, generation: str, form: str, k: int) -> None:
        from tests.replica.site import (
            AUTHORS,
            KICKERS,
            PROGRAMME_SECTION,
            PROGRAMMES,
            SECTIONS,
            TAGS,
            WIRE_SECTION,
            Article,
        )

        site, index = self.site, PAST_INDEX + len(self.articles)
        local = datetime.combine(day, time(rng.randrange(6, 22), rng.randrange(60)), PARIS)
        published = local.astimezone(UTC)
        if form.startswith("trad"):
            title = " ".join(rng.choice(TRAD_WORDS) for _ in range(rng.randint(3, 6)))
            title += f" {index}"
        else:
            title = site._sentence(rng, 4, 8, sep=" ") + f" {index}"
        stamp = day.strftime("%Y%m%d")
        slug = f"{stamp}-{title.replace(' ', '-').lower()}"
        programme, audio, video = None, None, None
        if form == "plain":
            section = SECTIONS[k % len(SECTIONS)]
            path = f"/cn/{section}/{slug}"
        elif form == "wire":
            section, path = WIRE_SECTION, f"/cn/{WIRE_SECTION}/{slug}"
        elif form == "wire_dateless":
            # 2021 AFP briefs: /cn/<slug>, no date, no section in the path
            section, path = WIRE_SECTION, "/cn/" + title.replace(" ", "-")
        elif form == "trad":
            section = TRAD_SECTIONS[k % len(TRAD_SECTIONS)]
            path = f"/cn/{section}/{slug}"
        elif form == "trad_programme":
            section, programme = TRAD_PROGRAMME
            path = f"/cn/{section}/{programme}/{slug}"
        elif form == "video":
            section, path = VIDEO_SECTION, f"/cn/{VIDEO_SECTION}/{slug}"
            video = {"url": f"https://rfi-vod.akamaized.net/cn/{index}.mp4", "duration": 90 + k}
        else:
            section, programme = PROGRAMME_SECTION, PROGRAMMES[k % 2]
            path = f"/cn/{PROGRAMME_SECTION}/{programme}/{slug}"
        # 2021's video pages hold nothing but their video: no lead, no body
        media_only = form == "video" and day.year == 2021
        blocks = rng.randint(2, 4)
        if programme:
            audio = {
                "url": f"https://aod-rfi.akamaized.net/rfi/chinois/audio/{index}.mp3",
                "duration": 600 + k,
            }
        article = Article(
            index=index,
            path=path,
            content_id=None if generation == "2020" else f"WBMZ{index}-RFI-CN-{stamp}",
            title=title,
            kicker=KICKERS[k % len(KICKERS)] if generation == "current" else None,
            lead=None if media_only else site._paragraph(rng),
            blocks=[] if media_only else [("p", site._paragraph(rng)) for _ in range(blocks)],
            published=published,
            modified=None,
            authors=[] if section == WIRE_SECTION else rng.sample(AUTHORS, k=1),
            section=section,
            programme=programme,
            tags=rng.sample(TAGS, k=1 + k % 2),
            image_uuid=None if video else f"{index:08x}-caf9-11f0-9b38-005056bfb2b6",
            audio=audio,
            twin=f"/tw/{section}/{stamp}-tw-{index}",
            listed=False,
            # older templates put a data: placeholder in src and the images in srcset
            lazy_image=generation != "current",
            generation=generation,
            video=video,
            # 2020–2021 AFP briefs close with the agency's credit line (seen in archive files)
            credit=f"© {day.year} AFP"
            if section == WIRE_SECTION and day.year in (2020, 2021)
            else None,
        )
        self.articles.append(article)

    # -- what the archive lists ---------------------------------------------------------

    def all_articles(self) -> list[Article]:
        """Every article the archive lists: the past and the current articles of its years."""
        years = set(self.years)
        current = [a for a in self.site.articles if paris_day(a).year in years]
        return [*self.articles, *current]

    def by_day(self) -> dict[date, list[Article]]:
        # Current articles can be added between runs (``add_articles``): recomputed then.
        key = (len(self.site.articles), len(self.articles))
        if self._by_day is None or self._by_day[0] != key:
            days: dict[date, list[Article]] = {}
            for article in sorted(self.all_articles(), key=lambda a: a.published):
                days.setdefault(paris_day(article), []).append(article)
            self._by_day = (key, days)
        return self._by_day[1]

    def days_with_items(self, year: int | None = None) -> list[date]:
        return sorted(d for d in self.by_day() if year is None or d.year == year)

    def months(self) -> list[tuple[int, int]]:
        return sorted({(d.year, d.month) for d in self.by_day()})

    # -- rendering ----------------------------------------------------------------------

    def archive_years_aside(self) -> str:
        """The real aside's markup (homepage_20251130.html), for this archive's years."""
        items = "".join(
            '<li class="o-aside-content__archive-years__year">'
            f'<a class="a-archive-link" href="{quote(year_path(y))}">{y}</a></li>'
            for y in reversed(self.years)
        )
        return (
            '<aside class="o-aside-content o-aside-content--archives">'
            '<div class="o-aside-content__row o-aside-content__row--content">'
            '<p class="o-aside-content__description">'
            "浏览法广RFI2006年以来所发表的文章、播客和视频等档案资料</p>"
            f'<ul class="o-aside-content__archive-years">{items}</ul></div></aside>'
        )

    def render_year(self, year: int) -> str | None:
        if year not in self.years:
            return None
        # [guess] one block per month; the calendar links only days that have items
        months: dict[int, list[date]] = {}
        for day in self.days_with_items(year):
            months.setdefault(day.month, []).append(day)
        blocks = "".join(
            '<div class="o-light-calendar__month">'
            f'<p class="o-light-calendar__month-name">{MONTHS[month - 1]} {year}</p>'
            '<ul class="o-light-calendar__days">'
            + "".join(
                f'<li class="o-light-calendar__day"><a href="{quote(day_path(d))}">{d.day}</a></li>'
                for d in days
            )
            + "</ul></div>"
            for month, days in sorted(months.items())
        )
        main = (
            f'<h1 class="a-page-title">{year}年档案资料库</h1>'
            f'<div class="o-light-calendar">{blocks}</div>{self.archive_years_aside()}'
        )
        return self.site.render_page(ORIGIN + quote(year_path(year)), f"{year} - RFI", main)

    def render_day(self, day: date) -> str | None:
        if day.year not in self.years or day > self.site.today:
            return None
        items = self.by_day().get(day, [])
        links = "".join(
            '<li class="o-archive-day__list__item">'
            # 2020-generation pages linked raw UTF-8, later ones percent-encoded
            f'<a href="{a.path if a.generation == "2020" else quote(a.path, safe="/-._~")}">'
            f"{html.escape(a.display_title)}</a></li>"
            for a in items
        )
        main = (
            '<div class="o-archive-day">'
            f'<h2 class="o-archive-day__title">{day.year}年{day.month}月{day.day}日</h2>'
            f'<ul class="o-archive-day__list">{links}</ul></div>{self.archive_years_aside()}'
        )
        return self.site.render_page(ORIGIN + quote(day_path(day)), f"{day} - RFI", main)

    def render_index(self) -> str:
        entries = "".join(
            f"<sitemap><loc>{ORIGIN}/sitemaps/cn/contents_{y}{m:02d}.xml</loc>"
            f"<lastmod>{date(y, m, calendar.monthrange(y, m)[1]).isoformat()}</lastmod></sitemap>"
            for y, m in self.months()
        )
        # The index of the sister editions lists tags and shows sitemaps too: not content.
        entries += f"<sitemap><loc>{ORIGIN}/sitemaps/cn/tags.xml</loc></sitemap>"
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{entries}</sitemapindex>"
        )

    def render_monthly(self, year: int, month: int) -> str | None:
        if (year, month) not in self.months():
            return None
        items = [
            a
            for day, listed in self.by_day().items()
            if (day.year, day.month) == (year, month)
            for a in listed
        ]
        entries = "".join(
            f"<url><loc>{a.url}</loc><lastmod>{a.published.isoformat()}</lastmod></url>"
            for a in items
        )
        return _urlset(entries)

    def render_tags_sitemap(self) -> str:
        from tests.replica.site import TAGS

        return _urlset(
            "".join(
                f"<url><loc>{ORIGIN}/cn/{quote('关键词')}/{quote(t)}/</loc></url>" for t in TAGS
            )
        )

    def legacy_hub_items(self, tag: str) -> list[Article]:
        return [a for a in self.articles if a.generation == "2020" and tag in a.tags][:20]


def _urlset(entries: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    )
