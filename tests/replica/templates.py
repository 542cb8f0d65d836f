"""Page templates cut from the two real pages in ../shared/rfi_pages/.

Every replica page is a real page with its variable regions swapped: the head, header,
footer, scripts and styles stay byte for byte what RFI served. Each cut is located by
markers that must occur exactly where expected, so a change to the captured pages fails
loudly here rather than producing a replica that no longer looks like the site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SHARED_PAGES = Path(__file__).resolve().parents[2].parent / "shared" / "rfi_pages"
ARTICLE_PAGE = SHARED_PAGES / "article_20251130_zhengzhi.html"
HOMEPAGE = SHARED_PAGES / "homepage_20251130.html"

# Values of the captured article, replaced by placeholders in the teaser template.
REAL_TEASER_HREF = (
    "/cn/%E6%94%BF%E6%B2%BB/20251130-%E5%8F%B0%E6%B9%BE%E5%A2%9E%E5%8A%A0400%E4%BA%BF"
    "%E7%BE%8E%E5%85%83%E5%9B%BD%E9%98%B2%E5%BC%80%E6%94%AF-%E5%8A%A0%E9%80%9F%E9%83%A8"
    "%E7%BD%B2t-dome%E9%98%B2%E7%A9%BA%E7%B3%BB%E7%BB%9F"
)
REAL_TITLE = "台湾增加400亿美元国防开支 加速部署T-Dome防空系统"
REAL_KICKER = "台海局势"
REAL_ALT = "台湾总统赖清德承诺加速部署“T-Dome”，并称其为岛屿的“安全网”。"
HEAD_LINES_REPLACED = (
    'rel="canonical"',
    'property="og:title"',
    'property="og:description"',
    'property="og:url"',
    'property="og:image"',
    'property="og:type"',
    'property="article:',
    'name="description"',
    'name="keywords"',
    'hreflang="zh-Hant"',
)


def cut(text: str, start: str, end: str, *, after: int = 0) -> tuple[int, int]:
    """(start, end) offsets of the region from ``start`` to the end of ``end``; exactly one."""
    begin = text.find(start, after)
    if begin < 0 or (text.find(start, begin + 1) >= 0 and after == 0):
        raise ValueError(f"marker {start[:60]!r} must occur once in the captured page")
    finish = text.find(end, begin)
    if finish < 0:
        raise ValueError(f"end marker {end[:60]!r} not found after {start[:60]!r}")
    return begin, finish + len(end)


def fill(template: str, **values: str) -> str:
    """Replace ``⟦name⟧`` placeholders (a form no real page contains)."""
    return re.sub(r"⟦(\w+)⟧", lambda m: values[m.group(1)], template)


@dataclass(frozen=True)
class Templates:
    article_head: str  # up to </head>, with ⟦head_meta⟧ and ⟦json_ld⟧ placeholders
    article_pre_main: str  # </head> … <main …> (header and navigation)
    article_main: str  # with ⟦breadcrumb⟧ ⟦article⟧ ⟦related⟧ ⟦tags⟧ ⟦datalayer⟧
    article_tail: str  # </main> … </html>
    interstitial: str  # the ad interstitial inside the body, verbatim
    self_promos: str  # newsletter and app promos inside the body, verbatim
    share_bar: str  # the share block after the body, verbatim
    teaser: str  # one related/listing teaser: ⟦href⟧ ⟦title⟧ ⟦label⟧ ⟦img⟧ ⟦alt⟧
    aside_open: str  # <aside …> up to the heading text, heading as ⟦heading⟧
    home_head: str  # homepage head, ⟦title⟧ ⟦canonical⟧ placeholders
    home_pre_main: str
    home_tail: str
    news_item: str  # one rolling-news item: ⟦href⟧ ⟦title⟧ ⟦datetime⟧ ⟦hhmm⟧


@cache
def templates() -> Templates:
    article = ARTICLE_PAGE.read_text(encoding="utf-8")
    home = HOMEPAGE.read_text(encoding="utf-8")

    head_end = article.index("</head>")
    head = article[:head_end]
    ld_start, ld_end = cut(head, '<script type="application/ld+json">', "</script>")
    head = head[:ld_start] + "⟦json_ld⟧" + head[ld_end:]
    head = re.sub(r"<title>.*?</title>", "<title>⟦title⟧</title>", head, count=1)
    kept, inserted = [], False
    for line in head.split("\n"):
        if any(marker in line for marker in HEAD_LINES_REPLACED):
            if not inserted:
                kept.append("⟦head_meta⟧")
                inserted = True
            continue
        kept.append(line)
    article_head = "\n".join(kept)

    main_start = article.index("<main")
    main_open_end = article.index(">", main_start) + 1
    main_end = article.index("</main>")
    main = article[main_open_end:main_end]
    regions = [
        cut(main, '<nav class="m-breadcrumb"', "</nav>"),
        cut(main, "<article ", "</article>"),
        cut(main, "<aside ", "</aside>"),
        cut(main, '<div class="t-content__tags">', "</ul>\n                </div>"),
        cut(main, '<script id="datalayer"', "</script>"),
    ]
    pieces, previous = [], 0
    for name, (begin, finish) in zip(
        ("breadcrumb", "article", "related", "tags", "datalayer"), regions, strict=True
    ):
        pieces += [main[previous:begin], f"⟦{name}⟧"]
        previous = finish
    pieces.append(main[previous:])
    article_main = "".join(pieces)

    body = article[
        slice(*cut(article, '<div class="t-content__body', '<div class="t-content__shares'))
    ]
    unlock = body.index("m-interstitial__unlock-btn")
    interstitial_end = body.index("</div>", body.index("</button>", unlock)) + len("</div>")
    interstitial = body[body.index('<div class="m-interstitial">') : interstitial_end]
    promos_start = body.index('<div class="o-self-promo o-self-promo--nl')
    promos_end = body.rindex("</div>", 0, body.rindex('<div class="t-content__shares'))
    self_promos = body[promos_start:promos_end]
    shares = article[slice(*cut(article, '<div class="t-content__shares', "</ul>\n"))]
    share_bar = shares + "                    </div>\n"

    aside = main[slice(*regions[2])]
    first_item = aside.index('<div class="o-layout-list__item">')
    second_item = aside.index('<div class="o-layout-list__item">', first_item + 1)
    teaser = aside[first_item:second_item]
    img_src = re.search(r'<img [^>]*src="([^"]+)"', teaser).group(1)
    teaser = (
        teaser.replace(REAL_TEASER_HREF, "⟦href⟧")
        .replace(REAL_TITLE, "⟦title⟧")
        .replace(REAL_KICKER, "⟦label⟧")
        .replace(REAL_ALT, "⟦alt⟧")
        .replace(img_src, "⟦img⟧")
    )
    teaser = re.sub(r' srcset="[^"]*"', "", teaser)
    heading_at = aside.index("其他新闻")
    list_open = aside.index(">", aside.index("<div", heading_at)) + 1
    aside_open = aside[:heading_at] + "⟦heading⟧" + aside[heading_at + len("其他新闻") : list_open]

    home_main_start = home.index("<main")
    home_main_end = home.index("</main>")
    home_head = home[: home.index("</head>")]
    home_head = re.sub(r"<title>.*?</title>", "<title>⟦title⟧</title>", home_head, count=1)
    home_head = home_head.replace(
        '<link rel="canonical" href="https://www.rfi.fr/cn/">',
        '<link rel="canonical" href="⟦canonical⟧">',
        1,
    )
    feed = home[slice(*cut(home, '<ol class="o-layout-list o-layout-list--news-feed">', "</li>"))]
    news_item = feed[feed.index('<li class="o-layout-list__item">') :]
    news_href = re.search(r'<a href="([^"]+)"', news_item).group(1)
    news_title = re.search(r'title="([^"]+)"', news_item).group(1)
    news_time = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', news_item)
    news_item = (
        news_item.replace(news_href, "⟦href⟧")
        .replace(news_title, "⟦title⟧")
        .replace(news_time.group(1), "⟦datetime⟧")
        .replace(f">{news_time.group(2)}<", ">⟦hhmm⟧<")
    )

    return Templates(
        article_head=article_head,
        article_pre_main=article[head_end:main_open_end],
        article_main=article_main,
        article_tail=article[main_end:],
        interstitial=interstitial,
        self_promos=self_promos,
        share_bar=share_bar,
        teaser=teaser,
        aside_open=aside_open,
        home_head=home_head,
        home_pre_main=home[home.index("</head>") : home.index(">", home_main_start) + 1],
        home_tail=home[home_main_end:],
        news_item=news_item,
    )
