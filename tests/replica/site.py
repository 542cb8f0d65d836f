"""A deterministic RFI-like site: its articles, how they are linked, and what a correct
crawl of it must export.

The site is a model (articles, listings, related graph) rendered through templates cut
from the real captured pages (``templates.py``). Roles built into every site:

* the newest articles are on the homepage, each section lists its own (2 a page, so some
  sit beyond the crawler's page limit), the RSS feed and the news sitemap list the newest;
* "hidden" articles are listed nowhere: reachable only through related asides;
* a chain home → C1 → C2 → C3 → C4 (only C1 and C2 are within 2 related hops);
* a shortcut case: home → B → X, where X is also in the (slow) sitemap and X → Y → Z;
  a crawl that keeps X at depth 2 misses Y and Z;
* T is listed only on the keyword hub of a tag of a homepage article (RFI_FOLLOW_TAGS);
* R is on the homepage but disallowed by robots.txt, and R alone links D;
* traps: keyword hubs, author pages, partner sites, the /tw/ twins, live radio, static
  pages, one article linked raw, encoded, with ``//``, ``http:``, a trailing slash, a
  query and a fragment; sections that answer 404 and 403.

With ``years=(first, last)`` the site also has a past (``past.py``): year pages, day pages,
the sitemap index with monthly sitemaps, and older articles in older templates and URL
forms, listed only there. Without it, nothing above changes.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from tests.replica.faults import fails
from tests.replica.past import ReplicaPast, paris_day
from tests.replica.templates import fill, templates

PARIS = ZoneInfo("Europe/Paris")
ORIGIN = "https://www.rfi.fr"
SECTIONS = ("中国", "港澳台", "法国", "国际", "政治")
WIRE_SECTION = "国际报道"
PROGRAMMES = ("要闻分析", "法国世界报")
PROGRAMME_SECTION = "专栏检索"
MISSING_SECTIONS = {"名流": 404, "健康": 403}
PAGE_SIZE = 2
MIN_ARTICLES = 40
HOMEPAGE_SIZE = 12
RSS_SIZE = 15
SITEMAP_SIZE = 10
EXCLUSIVE_TAG = "独家报道"
TAGS = ("中国", "台湾", "美国", "日本", "香港", "法国", "欧盟", "经济", "人权", "气候")
AUTHORS = ("左依", "安德烈", "麦杰思", "林泉忠", "尚穆", "艾米")
KICKERS = ("台海局势", "中美关系", "乌克兰战争", "香港大火", "法国政坛", None)
WORDS = (
    "中国",
    "法国",
    "台湾",
    "总统",
    "会谈",
    "经济",
    "政府",
    "宣布",
    "合作",
    "计划",
    "国际",
    "峰会",
    "部长",
    "发展",
    "安全",
    "问题",
    "表示",
    "决定",
    "人权",
    "组织",
    "选举",
    "市场",
    "能源",
    "气候",
    "协议",
    "谈判",
    "北京",
    "巴黎",
    "议会",
    "改革",
)
IMAGE = "https://s.rfi.fr/media/display/{uuid}/w:{width}/p:16x9/{name}.jpg"
DEFAULT_IMAGE = (
    "https://s.rfi.fr/media/display/020b8dae-e6c1-11ee-a196-005056bfb2b6/"
    "w:1280/p:16x9/img-default-RFI.jpg"
)
SRCSET_WIDTHS = (246, 388, 720, 1024)


def canonical(path: str) -> str:
    return ORIGIN + quote(path, safe="/-._~")


@dataclass
class Article:
    index: int
    path: str
    content_id: str | None
    title: str
    kicker: str | None
    lead: str | None
    blocks: list[tuple[str, str]]  # (tag, text): "p" or "h2"
    published: datetime
    modified: datetime | None
    authors: list[str]
    section: str
    programme: str | None
    tags: list[str]
    image_uuid: str | None
    audio: dict | None
    twin: str
    related: list[int] = field(default_factory=list)
    body_links: list[int] = field(default_factory=list)
    listed: bool = True  # in its section's listing
    sitemap_only: bool = False
    lazy_image: bool = False
    revision: int = 1
    generation: str = "current"  # template generation: "2020", "2022" or "current"
    video: dict | None = None  # video pages (/cn/视频/…)
    credit: str | None = None  # a wire credit closing the body (`© 2021 AFP`), not body text

    @property
    def url(self) -> str:
        return canonical(self.path)

    @property
    def display_title(self) -> str:
        return f"{self.title} - {self.programme}" if self.programme else self.title


class ReplicaSite:
    def __init__(
        self,
        articles: int = 60,
        seed: int = 7,
        today: date | None = None,
        page_size: int = PAGE_SIZE,
        years: tuple[int, int] | None = None,
        past_per_year: int = 12,
    ) -> None:
        if articles < MIN_ARTICLES:
            raise ValueError(
                f"a replica needs at least {MIN_ARTICLES} articles for its built-in roles"
            )
        self.random = random.Random(seed)
        self.today = today or datetime.now(UTC).date()
        self.page_size = page_size  # teasers per section page
        self.articles: list[Article] = []
        self._by_index: tuple[tuple[int, int], dict[int, Article]] | None = None
        self.delays: dict[str, float] = {}  # unquoted path → seconds before answering
        self.article_delay = 0.0  # seconds before answering any article page
        self.faults: dict[str, str] = {}  # article path → fault (tests/replica/faults.py)
        self.feed_faults: dict[str, str] = {}  # "/cn/rss" or the sitemap path → feed fault
        self.block_after: int | None = None  # answer 403 to everything after N requests
        self.endless_pager: str | None = None  # a section whose pager never ends
        self.drift = False  # articles' body moves to a class the extractor does not know
        self.sitemap_padding = 0  # extra news-sitemap URLs of 2015 (outside recent windows)
        for _ in range(articles):
            self._new_article()
        self._assign_roles()
        # The past: its own random stream, so the current site is the same with or without it.
        self.past = ReplicaPast(self, years, past_per_year, seed) if years else None
        self._index_paths()

    def _index_paths(self) -> None:
        past = self.past.articles if self.past else []
        self.by_path = {a.path: a for a in [*self.articles, *past]}

    # -- building -----------------------------------------------------------------------

    def _new_article(self, published: datetime | None = None) -> Article:
        rng, index = self.random, len(self.articles)
        if published is None:
            start = datetime.combine(self.today, time(20), UTC)
            published = start - timedelta(hours=5 * index, minutes=rng.randrange(60))
        programme = PROGRAMMES[index % 2] if index % 6 == 5 else None
        section = (
            PROGRAMME_SECTION
            if programme
            else (WIRE_SECTION if index % 9 == 4 else SECTIONS[index % len(SECTIONS)])
        )
        title = self._sentence(rng, 4, 8, sep=" ") + f" {index}"
        day = published.astimezone(PARIS).strftime("%Y%m%d")
        slug = f"{day}-{title.replace(' ', '-').lower()}"
        path = (
            f"/cn/{PROGRAMME_SECTION}/{programme}/{slug}" if programme else f"/cn/{section}/{slug}"
        )
        blocks = [("p", self._paragraph(rng)) for _ in range(rng.randint(3, 6))]
        for position in sorted(
            rng.sample(range(1, len(blocks)), k=min(2, index % 3)), reverse=True
        ):
            blocks.insert(position, ("h2", self._sentence(rng, 2, 4) + "？"))
        article = Article(
            index=index,
            path=path,
            content_id=None if index % 13 == 12 else f"WBMZ{100000 + index}-RFI-CN-{day}",
            title=title,
            kicker=KICKERS[index % len(KICKERS)] if index % 4 != 3 else None,
            lead=None if index % 10 == 9 else self._paragraph(rng),
            blocks=blocks,
            published=published.replace(microsecond=0),
            modified=(published + timedelta(hours=1)).replace(microsecond=0)
            if index % 3 == 0
            else None,
            authors=[] if section == WIRE_SECTION else rng.sample(AUTHORS, k=1 + index % 2),
            section=section,
            programme=programme,
            tags=rng.sample(TAGS, k=1 + index % 3),
            image_uuid=None if index % 11 == 10 else f"{index:08x}-caf9-11f0-9b38-005056bfb2b6",
            audio={
                "url": f"https://aod-rfi.akamaized.net/rfi/chinois/audio/{index}.mp3",
                "duration": 600 + index,
            }
            if programme
            else None,
            twin=f"/tw/{section}/{day}-tw-{index}",
            lazy_image=index % 7 == 0,
        )
        self.articles.append(article)
        return article

    @staticmethod
    def _sentence(rng: random.Random, low: int, high: int, sep: str = "") -> str:
        return sep.join(
            rng.choice(WORDS) + rng.choice(WORDS) for _ in range(rng.randint(low, high))
        )

    def _paragraph(self, rng: random.Random) -> str:
        # A zero-width space and a no-break space, as pasted text carries them.
        return self._sentence(rng, 8, 20) + "，\u200b" + self._sentence(rng, 4, 8) + "。\u00a0"

    def _assign_roles(self) -> None:
        n = len(self.articles)
        self.chain = [n - 1, n - 2, n - 3, n - 4]
        self.b, self.x, self.y, self.z = n - 5, n - 9, n - 6, n - 7
        self.tag_only, self.disallowed, self.disallowed_only_link = n - 8, 3, n - 10
        special = {
            *self.chain,
            self.b,
            self.x,
            self.y,
            self.z,
            self.tag_only,
            self.disallowed_only_link,
        }
        plain = [a.index for a in self.articles if a.index not in special]
        for article in self.articles:
            article.listed = article.index in plain and not (
                article.index >= HOMEPAGE_SIZE and article.index % 7 == 2
            )
        self.articles[self.x].sitemap_only = True
        for position, index in enumerate(plain):
            # The aside lists the page itself first, like the real one.
            targets = [plain[(position + step) % len(plain)] for step in (1, 4, 9)]
            self.articles[index].related = [index, *dict.fromkeys(targets)]
            if index % 4 == 1:
                self.articles[index].body_links = [plain[(position + 2) % len(plain)]]
        links = {
            0: [self.b],
            1: [self.chain[0]],
            self.disallowed: [self.disallowed_only_link],
            self.b: [self.x],
            self.x: [self.y],
            self.y: [self.z],
            self.chain[0]: [self.chain[1]],
            self.chain[1]: [self.chain[2]],
            self.chain[2]: [self.chain[3]],
        }
        for source, targets in links.items():
            article = self.articles[source]
            article.related = [*(article.related or [source]), *targets]
        self.articles[2].tags = [*self.articles[2].tags, EXCLUSIVE_TAG]
        self.articles[self.tag_only].tags = [EXCLUSIVE_TAG]

    # -- changes between runs (incremental crawls) ---------------------------------------

    def add_articles(self, count: int) -> list[Article]:
        """``count`` new articles, newer than all others, on the homepage."""
        newest = max(a.published for a in self.articles)
        added = []
        for step in range(1, count + 1):
            article = self._new_article(newest + timedelta(minutes=10 * step))
            article.related = [article.index, 0]
            added.append(article)
        self.articles.sort(key=lambda a: a.published, reverse=True)
        self._index_paths()
        return added

    def edit(self, article: Article) -> None:
        article.revision += 1
        article.blocks = [*article.blocks, ("p", f"更新：第{article.revision}版。")]
        article.modified = datetime.now(UTC).replace(microsecond=0)

    def revise(
        self,
        article: Article,
        *,
        title: str | None = None,
        paragraph: tuple[int, str] | None = None,
        append: str | None = None,
        replace: tuple[str, str] | None = None,
    ) -> None:
        """An RFI edit after publication: a new headline, the n-th paragraph rewritten, a
        paragraph (a correction) appended, or text replaced inside the body (a figure)."""
        if title is not None:
            article.title = title
        blocks = list(article.blocks)
        if paragraph is not None:
            number, text = paragraph
            positions = [i for i, (tag, _) in enumerate(blocks) if tag == "p"]
            blocks[positions[number]] = ("p", text)
        if replace is not None:
            old, new = replace
            assert any(old in text for _, text in blocks), f"{old!r} is not in the body"
            blocks = [(tag, text.replace(old, new)) for tag, text in blocks]
        if append is not None:
            blocks.append(("p", append))
        article.blocks = blocks
        article.revision += 1
        article.modified = datetime.now(UTC).replace(microsecond=0)

    def remove(self, article: Article, status: int = 404) -> None:
        """RFI takes the article down: its page answers 404 or 410 (listings still link it)."""
        self.faults[article.path] = {404: "gone_404", 410: "gone_410"}[status]

    def restore(self, article: Article) -> None:
        """The removed article is back, as it was."""
        self.faults.pop(article.path, None)

    # -- what lists what ------------------------------------------------------------------

    def newest(self) -> list[Article]:
        return sorted(self.articles, key=lambda a: a.published, reverse=True)

    def homepage_items(self) -> list[Article]:
        return [a for a in self.newest() if a.listed and a.section != WIRE_SECTION][:HOMEPAGE_SIZE]

    def news_feed_items(self) -> list[Article]:
        return [a for a in self.newest() if a.section == WIRE_SECTION][:5]

    def section_items(self, section: str) -> list[Article]:
        return [a for a in self.newest() if a.section == section and a.listed]

    def section_pages(self, section: str) -> int:
        return max(1, -(-len(self.section_items(section)) // self.page_size))

    def rss_items(self) -> list[Article]:
        return [a for a in self.newest() if a.listed][:RSS_SIZE]

    def sitemap_items(self) -> list[Article]:
        return [
            *[a for a in self.newest() if a.listed][:SITEMAP_SIZE],
            *[a for a in self.articles if a.sitemap_only],
        ]

    def hub_items(self, tag: str) -> list[Article]:
        return [a for a in self.newest() if tag in a.tags]

    def sections(self) -> list[str]:
        """Sections with articles that the real header navigation links (国际报道 is not)."""
        return [*SECTIONS, PROGRAMME_SECTION]

    # -- what a correct crawl exports ------------------------------------------------------

    def start_articles(
        self,
        max_listing_pages: int = 3,
        sources: tuple[str, ...] = ("homepage", "sections", "rss", "sitemap"),
    ) -> list[Article]:
        found = []
        if "homepage" in sources:
            found += [*self.homepage_items(), *self.news_feed_items()]
        if "rss" in sources:
            found += self.rss_items()
        if "sitemap" in sources:
            found += self.sitemap_items()
        if "sections" in sources:
            for section in self.sections():
                found += self.section_items(section)[: self.page_size * max_listing_pages]
        return found

    def expected_depths(
        self,
        related_depth: int = 2,
        max_listing_pages: int = 3,
        follow_tags: bool = False,
        sources: tuple[str, ...] = ("homepage", "sections", "rss", "sitemap"),
        met: bool = False,
    ) -> dict[str, int]:
        """Canonical path → shortest related depth, for every article a crawl must export
        (``met``: every article it meets, exported or not)."""
        depth: dict[int, int] = {}
        frontier = [(a.index, 0) for a in self.start_articles(max_listing_pages, sources)]
        while frontier:
            frontier.sort(key=lambda pair: pair[1])
            index, hops = frontier.pop(0)
            if index in depth and depth[index] <= hops:
                continue
            depth[index] = hops
            if index in self.unfetchable() or hops >= related_depth:
                continue  # never fetched, or as far as related links go
            article = self.articles_by_index()[index]
            frontier += [(linked, hops + 1) for linked in article.related if linked != index]
            if follow_tags:
                frontier += [
                    (a.index, hops + 1) for tag in article.tags for a in self.hub_items(tag)
                ]
        by_index = self.articles_by_index()
        unfetchable = set() if met else self.unfetchable()
        return {by_index[i].path: d for i, d in depth.items() if i not in unfetchable}

    def unfetchable(self) -> set[int]:
        """Articles a correct crawl cannot export: robots-disallowed, or a failing fault."""
        failing = {a.index for a in self.by_path.values() if fails(self.faults.get(a.path))}
        return {self.disallowed, *failing}

    def articles_by_index(self) -> dict[int, Article]:
        # Rebuilt only when articles were added: a page render must not cost O(articles).
        past = self.past.articles if self.past else []
        key = (len(self.articles), len(past))
        if self._by_index is None or self._by_index[0] != key:
            self._by_index = (key, {a.index: a for a in [*self.articles, *past]})
        return self._by_index[1]

    def expected_in_window(self, since: date, until: date) -> set[str]:
        """Unquoted paths of the articles a backfill of ``since``–``until`` must export:
        every article (current or past, listed anywhere or nowhere) whose Paris date of
        publication is in the window and that a correct crawl can fetch."""
        if self.past is None:
            raise ValueError("this replica has no past: build it with years=(first, last)")
        unfetchable = self.unfetchable()
        return {
            a.path
            for a in self.past.all_articles()
            if since <= paris_day(a) <= until and a.index not in unfetchable
        }

    def expected_record(self, article: Article) -> dict:
        """The record fields a correct extraction gives for this article (not ``crawl``)."""
        by_index = self.articles_by_index()
        body: str | None = "\n\n".join(_clean(t) for _, t in self._block_texts(article))
        if not body and (article.video or article.audio):
            body = None  # a media-only page (the schema allows no body only there)
        image = None
        if article.image_uuid:
            width = SRCSET_WIDTHS[-1] if article.lazy_image else 1280
            image = {
                "url": self._image_url(article, width),
                "caption": _clean(article.title),
                "credit": "AFP - 法广",
            }
        media = [{"kind": "audio", **article.audio}] if article.audio else []
        if article.video:
            media = [{"kind": "video", **article.video}]
        return {
            "id": (article.content_id if article.generation != "2020" else None)
            or "RFI-URL-" + hashlib.sha256(article.url.encode()).hexdigest()[:20].upper(),
            "url": article.url,
            "edition": "cn",
            "language": "zh-Hans",
            "type": "video" if article.video else "audio" if article.audio else "article",
            "title": article.title,
            "kicker": article.kicker,
            "lead": _clean(article.lead) if article.lead else None,
            "body": body,
            "subheadings": [_clean(t) for tag, t in article.blocks if tag == "h2"],
            "published_at": article.published.isoformat(),
            "modified_at": article.modified.isoformat() if article.modified else None,
            "authors": article.authors,
            "section": article.section,
            "programme": article.programme,
            "tags": article.tags,
            "image": image,
            "media": media,
            "related": [
                {"url": by_index[i].url, "title": by_index[i].display_title}
                for i in article.related
                if i != article.index
            ],
            "links": [by_index[i].url for i in article.body_links],
            "translations": {"zh-Hant": canonical(article.twin)},
            "char_count": len(body or ""),
            "credit": article.credit,
        }

    def _block_texts(self, article: Article) -> list[tuple[str, str]]:
        """Blocks as a reader sees them: the first paragraph carries its body link's text."""
        blocks = list(article.blocks)
        if article.body_links and blocks and blocks[0][0] == "p":
            target = self.articles_by_index()[article.body_links[0]]
            blocks[0] = ("p", blocks[0][1] + target.title)
        return blocks

    # -- rendering -------------------------------------------------------------------------

    def robots_txt(self) -> str:
        disallowed = self.articles_by_index()[self.disallowed]
        return (
            "User-agent: *\n"
            f"Disallow: {quote(disallowed.path, safe='/-._~')}\n"
            "Disallow: /cn/live-admin/\n"
            f"Sitemap: {ORIGIN}/sitemaps/cn/news.xml\n"
        )

    def render_article(self, article: Article) -> str:
        t = templates()
        by_index = self.articles_by_index()
        return "".join(
            (
                fill(
                    t.article_head,
                    title=html.escape(article.display_title),
                    head_meta=self._head_meta(article),
                    # 2020–2021 pages carry neither JSON-LD nor a datalayer (RFI_SITE.md)
                    json_ld="" if article.generation == "2020" else self._json_ld(article),
                ),
                t.article_pre_main,
                fill(
                    t.article_main,
                    breadcrumb=self._breadcrumb(article),
                    article=self._article_block(article),
                    related=self._related_aside(article, by_index),
                    tags=self._tags_block(article),
                    datalayer="" if article.generation == "2020" else self._datalayer(article),
                ),
                t.article_tail,
            )
        )

    def render_listing(
        self,
        canonical_url: str,
        title: str,
        items: list[Article],
        pager: str = "",
        news_feed: list[Article] | None = None,
        extra: str = "",
    ) -> str:
        teasers = "".join(self._teaser(a, a.kicker or a.section) for a in items)
        feed = ""
        if news_feed:
            feed = (
                '<aside data-org-name="1" data-org-type="banana-split" class="o-aside-content '
                ' o-aside-content--news-feed"><ol class="o-layout-list o-layout-list--news-feed">'
                + "".join(self._news_item(a) for a in news_feed)
                + "</ol></aside>"
            )
        return self.render_page(
            canonical_url, title, f'<div class="o-layout-list">{teasers}</div>{feed}{pager}{extra}'
        )

    def render_page(self, canonical_url: str, title: str, main: str) -> str:
        """A page of the platform's shell (the real homepage's head, header and footer)."""
        t = templates()
        return "".join(
            (
                fill(t.home_head, title=html.escape(title), canonical=canonical_url),
                t.home_pre_main,
                f'<div class="t-content t-content--page-builder" id="main-content">{main}</div>',
                t.home_tail,
            )
        )

    def render_homepage(self) -> str:
        first = self.homepage_items()[0]
        raw = first.path
        encoded = quote(raw, safe="/-._~")
        traps = "".join(
            f'<a href="{href}">{html.escape(first.title)}</a>'
            for href in (
                raw,
                f"https://www.rfi.fr/{encoded.lstrip('/').replace('cn/', 'cn//', 1)}",
                f"http://www.rfi.fr/{encoded.lstrip('/')}",
                f"{encoded}/",
                f"{encoded}?xtor=RSS-1",
                f"{encoded}#comments",
                f"https://www.rfi.fr//{encoded.lstrip('/')}",
            )
        )
        traps += (
            '<a href="/cn/直播">直播</a><a href="/cn/我们是谁">我们是谁</a>'
            f'<a href="{first.twin}">華語</a><a href="/fr/">Français</a>'
            '<a href="/cn/作者/左依/">左依</a>'
        )
        partner = (
            '<div class="m-item-list-article" data-article-list><div class="article__title">'
            '<a href="https://savoirs.rfi.fr/cn/apprendre-enseigner" data-article-item-link>'
            "<h2>学习法语</h2></a></div></div>"
            '<div class="m-item-list-article" data-article-list><div class="article__title">'
            '<a href="https://www.rfi.fr/cn/关键词/中国/" data-article-item-link><h2>中国</h2>'
            "</a></div></div>"
        )
        return self.render_listing(
            ORIGIN + "/cn/",
            "法广 - 时事与新闻直播 - RFI - 法国国际广播电台",
            self.homepage_items(),
            news_feed=self.news_feed_items(),
            extra=traps + partner,
        )

    def render_section(self, section: str, page: int) -> str | None:
        pages = self.section_pages(section)
        if section == self.endless_pager:
            pages = page + 1  # every page links one more
        if page > pages:
            return None
        items = self.section_items(section)[(page - 1) * self.page_size : page * self.page_size]
        base = f"/cn/{section}/"
        # [guess] the pager's markup: numbered links to /cn/<section>/<n>/.
        pager = (
            '<div class="m-pagination">'
            + "".join(
                f'<a class="m-pagination__item" href="{base}{n}/">{n}</a>'
                if n > 1
                else f'<a class="m-pagination__item" href="{base}">1</a>'
                for n in range(1, pages + 1)
            )
            + "</div>"
        )
        return self.render_listing(
            canonical(base if page == 1 else f"{base}{page}/"),
            f"{section} - RFI",
            items,
            pager=pager,
        )

    def render_rss(self) -> str:
        items = "".join(
            f"<item><title>{html.escape(a.display_title)}</title><link>{a.url}</link>"
            f"<description>{html.escape(a.lead or '')}</description>"
            f"<pubDate>{a.published.strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate></item>"
            for a in self.rss_items()
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>法广</title><link>{ORIGIN}/cn/</link>{items}</channel></rss>"
        )

    def render_sitemap(self) -> str:
        entries = "".join(
            f"<url><loc>{a.url}</loc><news:news><news:publication><news:name>RFI</news:name>"
            f"<news:language>zh-cn</news:language></news:publication>"
            f"<news:publication_date>{a.published.isoformat()}</news:publication_date>"
            f"<news:title>{html.escape(a.title)}</news:title></news:news></url>"
            for a in self.sitemap_items()
        )
        # Never served (404): outside any recent window, never requested. Short, so that
        # 100,000 of them stay under DOWNLOAD_MAXSIZE (8 MiB).
        entries += "".join(
            f"<url><loc>{ORIGIN}/cn/x/201503{1 + i % 28:02d}-p{i}</loc></url>"
            for i in range(self.sitemap_padding)
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"{entries}</urlset>"
        )

    def _image_url(self, article: Article, width: int) -> str:
        return IMAGE.format(uuid=article.image_uuid, width=width, name=f"photo-{article.index}")

    def _head_meta(self, a: Article) -> str:
        lines = [
            f'<link rel="canonical" href="{a.url}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:title" content="{html.escape(a.display_title)}">',
            f'<meta property="og:url" content="{a.url}">',
        ]
        if a.lead:
            lines += [
                f'<meta property="og:description" content="{html.escape(a.lead)}">',
                f'<meta name="description" content="{html.escape(a.lead)}">',
            ]
        if a.image_uuid and not a.lazy_image:
            lines.append(f'<meta property="og:image" content="{self._image_url(a, 1280)}">')
        elif not a.image_uuid:
            lines.append(f'<meta property="og:image" content="{DEFAULT_IMAGE}">')
        lines.append(
            f'<meta property="article:published_time" content="{a.published.isoformat()}">'
        )
        if a.modified:
            lines.append(
                f'<meta property="article:modified_time" content="{a.modified.isoformat()}">'
            )
        lines.append(f'<meta property="article:section" content="{a.section}">')
        lines += [f'<meta property="article:tag" content="{t}">' for t in a.tags]
        lines.append(f'<meta name="keywords" content="{",".join([a.section, *a.tags])}">')
        lines.append(f'<link rel="alternate" hreflang="zh-Hant" href="{canonical(a.twin)}">')
        return "\n".join("        " + line for line in lines)

    def _json_ld(self, a: Article) -> str:
        keywords: list[str] | str = [a.section, *a.tags]
        if a.index % 4 == 3:
            keywords = ",".join(keywords)  # the 2025-05-and-earlier form
        article = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "url": a.url,
            "headline": a.display_title,
            "datePublished": a.published.isoformat(),
            "inLanguage": "zh-Hans",
            "articleSection": a.section,
            "author": [{"@type": "Person", "name": n} for n in a.authors],
            "keywords": keywords,
            "isAccessibleForFree": True,
        }
        if a.lead:
            article["description"] = a.lead
        if a.modified:
            article["dateModified"] = a.modified.isoformat()
        if a.image_uuid and not a.lazy_image:
            article["image"] = [self._image_url(a, 1280)]
        crumbs = {
            "@context": "https://schema.org",
            "@type": "BreadcrumbList",
            "itemListElement": [],
        }
        shape = a.index % 4
        if a.generation == "2022":
            shape = 1  # one object, keywords a comma string (the 2025-05-and-earlier form)
            article["keywords"] = ",".join([a.section, *a.tags])
        document: object = [article, crumbs]
        if shape == 1:
            document = article
        elif shape == 2:
            document = {"@context": "https://schema.org", "@graph": [article, crumbs]}
        text = json.dumps(document, ensure_ascii=False, indent=4)
        return f'<script type="application/ld+json">\n{text}\n</script>'

    def _breadcrumb(self, a: Article) -> str:
        return (
            '<nav class="m-breadcrumb" role="navigation"><ol class="m-breadcrumb__list">'
            '<li class="m-breadcrumb__list__item"><a href="/cn/" class="m-breadcrumb__list__item'
            '__link">回到首页</a></li><li class="m-breadcrumb__list__item"><a href="/cn/'
            f'{a.section}/" class="m-breadcrumb__list__item__link">{a.section}</a></li></ol></nav>'
        )

    def _article_block(self, a: Article) -> str:
        t = templates()
        by_index = self.articles_by_index()
        parts = ['<article class="t-content__article-wrapper" data-article-content>']
        if a.kicker:
            parts.append(
                '<div class="t-content__section a-tag"><span class="a-tag__wrapper">'
                f"{a.kicker}\n                </span></div>"
            )
        parts.append(
            f'<h1 class="t-content__title a-page-title">{html.escape(a.display_title)}</h1>'
        )
        if a.lead:
            parts.append(f'<p class="t-content__chapo">{html.escape(a.lead)}        </p>')
        paris = a.published.astimezone(PARIS).strftime("%d/%m/%Y - %H:%M")
        parts.append(
            '<div class="t-content__dates"><p class="m-pub-dates">'
            '<span class="m-pub-dates__date">发表时间： '
            f'<time datetime="{a.published.isoformat()}" pubdate="pubdate">{paris}</time>'
            "</span></p></div>"
        )
        if a.image_uuid:
            srcset = ",".join(f"{self._image_url(a, w)} {w}w" for w in SRCSET_WIDTHS)
            src = (
                "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
                if a.lazy_image
                else self._image_url(a, 1024)
            )
            parts.append(
                '<div class="t-content__main-media">'
                '<figure class="m-item-image m-item-image--16x9">'
                f'<picture class="a-picture"><img src="{src}" srcset="{srcset}" '
                f'alt="{html.escape(a.title)}" class="a-img "></picture>'
                f'<figcaption class="a-figcaption"><span>{html.escape(a.title)}</span>'
                "<span>AFP - 法广</span></figcaption></figure></div>"
            )
        if a.video:
            # [reported, 2023] video JSON in script[data-media-video-id]
            video = json.dumps(
                {
                    "mediaId": f"video-{a.index}",
                    "type": "video",
                    "sources": [{"name": "mp4", "url": a.video["url"]}],
                    "duration": a.video["duration"],
                }
            )
            parts.append(
                '<div class="t-content__main-media"><div class="m-video-player">'
                f'<video-player source="{a.video["url"]}"></video-player>'
                f'<script type="application/json" data-media-video-id="video-{a.index}">'
                f"{video}</script></div></div>"
            )
        if a.audio:
            audio = json.dumps(
                {
                    "mediaId": f"episode-{a.index}",
                    "type": "audio",
                    "sources": [{"name": "mp3", "url": a.audio["url"]}],
                    "duration": a.audio["duration"],
                }
            )
            parts.append(
                '<div class="t-content__page-cta"><button class="m-feed-sub__audio">'
                f'<script type="application/json">{audio}</script></button></div>'
            )
        for name in a.authors:
            parts.append(
                '<div class="t-content__authors"><div class="m-from-author">'
                f'<a href="/cn/作者/{name}/" title="{name}" class="m-from-author__name">'
                f"{name}\n                    </a></div></div>"
            )
        body = [t.interstitial]
        link_targets = [by_index[i] for i in a.body_links]
        for position, (tag, text) in enumerate(a.blocks):
            inner = html.escape(text)
            if tag == "h2":
                body.append(f"<h2>\n   <strong>{inner}</strong>\n  </h2>")
                continue
            if position == 0 and link_targets:
                # Odd articles link raw UTF-8 (as 2020 pages did), even ones percent-encoded;
                # the link's text is part of the paragraph.
                target = link_targets[0]
                href = target.path if a.index % 2 else quote(target.path, safe="/-._~")
                inner += f'<a href="{href}">{html.escape(target.title)}</a>'
            body.append(f"<p>{inner}</p>")
        if a.credit:
            body.append(f"<p>{html.escape(a.credit)}</p>")
        body.append(t.self_promos)
        body_class = "t-article__body" if self.drift else "t-content__body"
        parts.append(f'<div class="{body_class} u-clearfix">' + "\n".join(body) + "</div>")
        parts += [t.share_bar, "</article>"]
        return "\n".join(parts)

    def _related_aside(self, a: Article, by_index: dict[int, Article]) -> str:
        t = templates()
        heading = "同一主题" if a.index % 2 else "其他新闻"
        teasers = "".join(
            self._teaser(by_index[i], by_index[i].kicker or by_index[i].section) for i in a.related
        )
        return fill(t.aside_open, heading=heading) + teasers + "</div></aside>"

    def _teaser(self, a: Article, label: str) -> str:
        img = self._image_url(a, 480) if a.image_uuid else DEFAULT_IMAGE
        return fill(
            templates().teaser,
            href=quote(a.path, safe="/-._~"),
            title=html.escape(a.display_title),
            label=html.escape(label),
            img=img,
            alt=html.escape(a.title),
        )

    def _news_item(self, a: Article) -> str:
        paris = a.published.astimezone(PARIS)
        return fill(
            templates().news_item,
            href=quote(a.path, safe="/-._~"),
            title=html.escape(a.title),
            datetime=paris.isoformat(),
            hhmm=paris.strftime("%H:%M"),
        )

    def _tags_block(self, a: Article) -> str:
        if a.generation == "current":
            items = "".join(
                f'<li class="m-tags-list__tag"><a href="/cn/{quote("关键词")}/{quote(tag)}/" '
                f'class="a-hot-tag" title="{tag}">{tag}</a></li>'
                for tag in a.tags
            )
        else:
            # 2021–2023: ul.m-tags-list li.m-tags-list__tag a, no a-hot-tag; 2021 pages
            # link the legacy hubs /cn/tag/<tag>/ (RFI_SITE.md, 2021 crawl record)
            hub = "tag" if a.generation == "2020" else quote("关键词")
            items = "".join(
                f'<li class="m-tags-list__tag"><a href="/cn/{hub}/{quote(tag)}/" '
                f'title="{tag}">{tag}</a></li>'
                for tag in a.tags
            )
        return (
            '<div class="t-content__tags"><div class="t-content__tags__title">继续阅读相同主题内容:'
            f'</div><ul class="m-tags-list">{items}</ul>\n                </div>'
        )

    def _datalayer(self, a: Article) -> str:
        layer = {
            "content_title": a.title,
            "canonical": a.url,
            "publication_date": a.published.strftime("%Y-%m-%d"),
            "publication_time": a.published.strftime("%H:%M:%S"),
            "authors": [{"name": n} for n in a.authors],
            "tags": [{"name": t} for t in a.tags],
            "cat1": a.section,
            "main_media_type": "audio" if a.audio else "texte",
            "content_type": "article",
            "site_locale": "cn",
        }
        if a.content_id:
            layer["content_id"] = a.content_id
        return f'<script id="datalayer" type="application/json">{json.dumps(layer)}</script>'


def _clean(text: str) -> str:
    return " ".join(text.replace("\u200b", "").replace("\u00a0", " ").split())
