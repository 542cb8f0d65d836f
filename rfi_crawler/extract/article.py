"""Article pages: every selector for a record, and the order in which sources are trusted.

Each field is taken from the best source and falls back in this order (first non-empty
wins; list fields come whole from one source, never merged). docs/record.md repeats it.
Sources go to ArticleLoader raw, best first; its processors do every cleaning.

==============  ==========================================================================
field           sources, best first
==============  ==========================================================================
id              #datalayer content_id (if a safe id, else counted) → derived from the URL
url             link[rel=canonical] → og:url → JSON-LD url/mainEntityOfPage → page URL
title           og:title → JSON-LD headline → h1.t-content__title → <title>
lead            p.t-content__chapo → JSON-LD description → og:description → description
published_at    article:published_time → JSON-LD datePublished → #datalayer date+time (UTC)
                → time[datetime] → visible Paris date → the URL's date (Paris midnight)
modified_at     article:modified_time → JSON-LD dateModified → second time[datetime]
authors         JSON-LD author → #datalayer authors → a.m-from-author__name
section         article:section → JSON-LD articleSection → #datalayer cat1 → breadcrumb
                → the URL's first segment (never the filler word `contenu`)
tags            article:tag → JSON-LD keywords (less the section) → #datalayer tags
                → .t-content__tags a (2025 a.a-hot-tag; 2021–2023 li.m-tags-list__tag a)
image           og:image → JSON-LD image → the main figure's largest srcset rendition;
                caption/credit from the figure's figcaption spans (caption ← img alt)
==============  ==========================================================================
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any

from lxml import etree

from rfi_crawler import urls
from rfi_crawler.extract.media import page_media
from rfi_crawler.extract.page import (
    Landmarks,
    data_scripts,
    datalayer,
    descendants_of,
    head_metas,
    json_ld_objects,
    json_ld_of_type,
    text_of,
)
from rfi_crawler.loaders import ArticleLoader
from rfi_crawler.processors import PARIS, clean_text, paris_to_utc_iso, to_utc_iso, valid_id
from rfi_crawler.records import finalize

if TYPE_CHECKING:
    from parsel import Selector
    from scrapy.statscollectors import StatsCollector

    from rfi_crawler.items import ArticleItem

logger = logging.getLogger(__name__)
XPath = etree.XPath

CANONICAL = XPath('/html/head/link[@rel="canonical"]/@href')
HTML_LANG = XPath("/html/@lang")
HEAD_TITLE = XPath("/html/head/title")
ALTERNATES = XPath('/html/head/link[@rel="alternate"][@hreflang]')
TITLE = XPath('descendant::h1[contains(@class, "t-content__title")]')
LEAD = XPath('descendant::p[contains(@class, "t-content__chapo")]')
AUTHOR_LINKS = XPath('descendant::a[contains(@class, "m-from-author__name")]')
BODY = XPath(
    'descendant::div[contains(concat(" ", normalize-space(@class), " "), " t-content__body ")]'
)
BODY_LINKS = XPath("descendant::a/@href")
FIGCAPTION_SPANS = XPath("descendant::figcaption/span")
BREADCRUMB = XPath(
    '/descendant::nav[contains(@class, "m-breadcrumb")]/descendant::a[contains(@class, "__link")]'
)
# The "same topic" aside is found by its attributes: its heading varies (其他新闻, 同一主题…).
RELATED_TEASERS = XPath('descendant::div[contains(@class, "m-item-list-article")]')
RELATED_TITLE_LINK = XPath(
    'descendant::*[contains(@class, "article__title")]/descendant::a[@data-article-item-link]'
)
RELATED_ANY_LINK = XPath("descendant::a[@data-article-item-link]")
RELATED_ASIDE_TYPE = "aside-content--related"  # aside[@data-org-type]
# The usual shape in one query (each teaser's image link repeats its title link and is
# marked aria-hidden); teasers are walked one by one only when it finds none.
RELATED_TITLE_LINKS = XPath(
    "descendant::a[@data-article-item-link][not(@aria-hidden)]"
    '[ancestor::*[contains(@class, "article__title")]]'
)

ARTICLE_JSON_LD_TYPES = (
    "NewsArticle",
    "Article",
    "ReportageNewsArticle",
    "LiveBlogPosting",
    "BlogPosting",
    "AnalysisNewsArticle",
    "VideoObject",
    "PodcastEpisode",
)
# Inside the body but not content (RFI_SITE.md): ads, the read-more interstitial, promos.
_NOT_CONTENT_CLASSES = (
    "m-interstitial",
    "o-self-promo",
    "m-block-ad",
    "o-ad-container",
    "m-em-video",
    "em-video-wrapper",
    "t-content__shares",
)
# Media and widgets: embedded figures, players and tweets are not text of the body.
_SKIPPED_TAGS = {
    "script",
    "style",
    "noscript",
    "button",
    "svg",
    "iframe",
    "figure",
    "picture",
    "img",
    "video-player",
    "form",
    "input",
    "template",
}
_HEADINGS = {"h2", "h3", "h4", "h5", "h6"}
_TEXT_BLOCKS = {"p", "blockquote", "pre"}
_LISTS = {"ul", "ol"}
# Children that start a new line inside a block.
_LINE_BLOCKS = {"p", "div", "li", "ul", "ol", "blockquote", "pre", *_HEADINGS}
# A wire agency's credit closing a brief (`© 2021 AFP`) [seen in 2020–2021 archive files].
_CREDIT = re.compile(
    r"(?:©|\(c\)|Ⓒ)\s*(?:19|20)\d\d\s*(?:AFP|Reuters|AP|法新社|路透社?|美联社)", re.I
)
_WRAPPERS = {"div", "section", "article", "aside", "main"}
# `url 246w,url 388w`: candidates are comma-separated, with or without a space after it.
_SRCSET_ITEM = re.compile(r"(?:^|,)\s*(\S+?)\s+(\d+)w")
# The platform's stand-in card for pages without a picture is no image of the article.
_DEFAULT_IMAGE = "img-default-RFI"


def extract_article(
    selector: Selector,
    page_url: str,
    base_url: str | None = None,
    crawl: dict[str, Any] | None = None,
    stats: StatsCollector | None = None,
    marks: Landmarks | None = None,
) -> ArticleItem | None:
    """The record of an article page, or None when the page is not a content page.

    Values go to the loader raw; it does every cleaning (see loaders.ArticleLoader).
    ``marks``: the page's landmarks, when the caller has them already."""
    root = selector.root
    marks = marks or Landmarks(root)
    metas = head_metas(root)
    ld_texts, layer_text = data_scripts(marks.scripts)
    ld = json_ld_of_type(json_ld_objects(ld_texts), *ARTICLE_JSON_LD_TYPES)
    layer = datalayer(layer_text)
    articles = marks.content_articles or marks.class_articles
    article = articles[0] if articles else None

    url = _canonical(root, metas, ld, page_url, base_url)
    if url is None or not (article is not None or ld or first(metas.get("og:type")) == "article"):
        return None
    parts = ArticleParts(article)
    path = urls.path_of(url)
    edition = urls.edition_of(path)
    programme = urls.programme_in_path(path)
    media = page_media(marks.buttons, article, ld)

    loader = ArticleLoader(programme=programme)
    loader.add_value(
        "id", [_valid_content_id(layer.get("content_id"), url, stats), urls.derived_id(url)]
    )
    loader.add_value("url", url)
    loader.add_value("edition", edition)
    loader.add_value("language", [*HTML_LANG(root), urls.EDITION_LANGUAGES.get(edition or "")])
    loader.add_value("programme", programme)
    loader.add_value(
        "title",
        [
            first(metas.get("og:title")),
            _str(ld.get("headline")),
            _first_text(article, TITLE),
            _first_text(root, HEAD_TITLE),
        ],
    )
    loader.add_value("kicker", text_of(parts.kickers[0]) if parts.kickers else None)
    loader.add_value(
        "lead",
        [
            _first_text(article, LEAD),
            _str(ld.get("description")),
            first(metas.get("og:description")),
            first(metas.get("description")),
        ],
    )
    loader.add_value("published_at", _published_candidates(metas, ld, layer, parts.pub_times, path))
    loader.add_value("modified_at", _modified_candidates(metas, ld, parts.pub_times))
    # List fields and the section: whole sources, best first; DOM fallbacks are lambdas
    # (they cost a walk of the page and are rarely needed).
    loader.add_value(
        "authors",
        [
            lambda: _ld_names(ld.get("author")),
            lambda: _layer_names(layer.get("authors")),
            lambda: _texts(article, AUTHOR_LINKS),
        ],
    )
    loader.add_value(
        "section",
        [
            first(metas.get("article:section")),
            _str(ld.get("articleSection")),
            _str(layer.get("cat1")),
            lambda: _texts(root, BREADCRUMB)[-1:],
            urls.section_in_path(path),
        ],
    )
    section = loader.get_output_value("section")
    loader.add_value(
        "tags",
        [
            metas.get("article:tag", []),
            lambda: _keywords_less_section(ld.get("keywords"), section),
            lambda: _layer_names(layer.get("tags")),
            lambda: [text_of(link) for link in marks.tag_links],
        ],
    )
    body = _first(article, BODY)
    blocks, subheadings, credit = blocks_of(body) if body is not None else ([], [], None)
    loader.add_value("body", blocks)
    loader.add_value("subheadings", subheadings)
    loader.add_value("credit", credit)
    loader.add_value("image", _image(metas, ld, parts.main_figures))
    loader.add_value("media", media)
    loader.add_value("type", content_type(layer, metas, media, programme))
    loader.add_value("related", related_links(marks.asides, url, base_url))
    loader.add_value("links", _body_links(body, url, base_url))
    loader.add_value("translations", translations(root, edition, base_url))
    loader.add_value("crawl", crawl)
    return finalize(loader.load_item())


class ArticleParts:
    """What ``extract_article`` reads under class-marked containers of the article, found in
    one walk of its elements. Each was a query of its own (``descendant::*[contains(@class,
    …)]/descendant::…``, as named in the comments), and each such query tested the class of
    every element of the article: ~35 µs apiece on the real page. Lists in document order,
    as the queries give them (tests/test_parse_entry.py compares them)."""

    def __init__(self, article: Any) -> None:
        boxes: dict[str, list[Any]] = {name: [] for name in _PART_BOXES}
        for element in article.iterdescendants(etree.Element) if article is not None else ():
            classes = element.get("class")
            if classes:
                for name, found in boxes.items():
                    if name in classes:
                        found.append(element)
        # descendant::*[contains(@class, "t-content__section")]
        #   /descendant::*[contains(@class, "a-tag__wrapper")]
        self.kickers = [
            element
            for element in descendants_of(boxes["t-content__section"])
            if "a-tag__wrapper" in element.get("class", "")
        ]
        # descendant::*[contains(@class, "t-content__main-media")]/descendant::figure
        self.main_figures = descendants_of(boxes["t-content__main-media"], "figure")
        # descendant::*[contains(@class, "m-pub-dates__date")]/descendant::time
        self.pub_times = descendants_of(boxes["m-pub-dates__date"], "time")


_PART_BOXES = ("t-content__section", "t-content__main-media", "m-pub-dates__date")


def first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _first(context: Any, query: XPath) -> Any:
    """The first node ``query`` finds in ``context`` (None: nowhere to look), or None."""
    found = query(context) if context is not None else []
    return found[0] if found else None


def _first_text(context: Any, query: XPath) -> str | None:
    """Whole text (inline markup included) of the first match, or None."""
    node = _first(context, query)
    return None if node is None else text_of(node)


def _texts(context: Any, query: XPath) -> list[str]:
    return [] if context is None else [text_of(node) for node in query(context)]


def _canonical(
    root: Any, metas: dict[str, list[str]], ld: dict[str, Any], page_url: str, base_url: str | None
) -> str | None:
    main_entity = ld.get("mainEntityOfPage")
    candidates = [
        *CANONICAL(root)[:1],
        first(metas.get("og:url")),
        _str(ld.get("url")),
        _str(main_entity.get("@id")) if isinstance(main_entity, dict) else _str(main_entity),
        page_url,
    ]
    for candidate in candidates:
        if candidate:
            url = urls.canonical_content_url(candidate, page_url, base_url, editions=("cn", "tw"))
            if url:
                return url
    return None


def _published_candidates(
    metas: dict[str, list[str]], ld: dict[str, Any], layer: dict[str, Any], times: list, path: str
) -> list[str | None]:
    candidates = [first(metas.get("article:published_time")), _str(ld.get("datePublished"))]
    if layer.get("publication_date") and layer.get("publication_time"):
        # The datalayer's date and time are UTC (they equal article:published_time).
        candidates.append(f"{layer['publication_date']}T{layer['publication_time']}+00:00")
    if any(to_utc_iso(c) for c in candidates):
        return candidates
    if times:
        candidates += [times[0].get("datetime"), paris_to_utc_iso(text_of(times[0]))]
    url_date = urls.date_in_path(path)
    if url_date:
        candidates.append(datetime.combine(url_date, time(), PARIS).astimezone(UTC).isoformat())
    return candidates


def _modified_candidates(
    metas: dict[str, list[str]], ld: dict[str, Any], times: list
) -> list[str | None]:
    return [
        first(metas.get("article:modified_time")),
        _str(ld.get("dateModified")),
        times[1].get("datetime") if len(times) > 1 else None,
    ]


def _valid_content_id(content_id: Any, url: str, stats: StatsCollector | None) -> Any:
    """The datalayer's content id, unless it is not a safe id (``../../x``, 300 characters,
    a NUL…): then the page gets its derived URL id, and the fallback is counted and logged."""
    if content_id is None or (isinstance(content_id, str) and valid_id(content_id.strip())):
        return content_id
    logger.warning("invalid datalayer content_id %.80r on %s: using the URL's id", content_id, url)
    if stats is not None:
        stats.inc_value("rfi/extract/invalid_content_id")
    return None


def _ld_names(value: Any) -> list[str]:
    names = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
        elif isinstance(item, str):
            names.append(item)
    return names


def _layer_names(value: Any) -> list[str]:
    return (
        [item.get("name") for item in value if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )


def _keywords_less_section(keywords: Any, section: str | None) -> list[str]:
    """JSON-LD keywords are the section followed by the tags, as a list or a comma string."""
    if isinstance(keywords, str):
        keywords = re.split(r"[,，]", keywords)
    if not isinstance(keywords, list):
        return []
    keywords = [k.strip() for k in keywords if isinstance(k, str) and k.strip()]
    if keywords and section and keywords[0] == section:
        keywords = keywords[1:]
    return keywords


def blocks_of(body: Any) -> tuple[list[list[str]], list[list[str]], str | None]:
    """Blocks of a body element in order (ads, promos and media left out), each as its raw
    lines; the subheads' blocks; and a wire credit (`© 2021 AFP`) that closed the
    body, taken out of it. Used on crawled pages and archive files alike: the loader turns
    the raw lines into text (see ArticleLoader's body rendering note)."""
    blocks: list[list[str]] = []
    subheadings: list[list[str]] = []
    credits: list[str] = []
    _walk(body, blocks, subheadings, credits)
    while blocks and not any(clean_text(line) for line in blocks[-1]):
        blocks.pop()
    if blocks and _CREDIT.fullmatch(" ".join(filter(None, map(clean_text, blocks[-1])))):
        credits.append(" ".join(blocks.pop()))
    return blocks, subheadings, (credits[0] if credits else None)


def _walk(
    element: Any, blocks: list[list[str]], subheadings: list[list[str]], credits: list[str]
) -> None:
    for child in element.iterchildren(tag=etree.Element):
        tag = child.tag
        if tag in _SKIPPED_TAGS or _not_content(child):
            continue
        if "t-copyright" in child.get("class", ""):
            credits.append(text_of(child))
        elif tag in _HEADINGS or tag in _TEXT_BLOCKS or tag in _LISTS:
            lines = lines_of(child)
            blocks.append(lines)
            if tag in _HEADINGS or (tag == "p" and _is_bold_only(child)):
                subheadings.append(lines)  # rendered as its body block
        elif tag in _WRAPPERS:
            _walk(child, blocks, subheadings, credits)


def lines_of(element: Any) -> list[str]:
    """The raw text of a block, split into lines at ``<br>`` and at block-level children
    (a list's items, a nested list's items, a blockquote's paragraphs); media left out."""
    lines = [""]
    _lines(element, lines)
    return lines


def _lines(element: Any, lines: list[str]) -> None:
    if element.text:
        lines[-1] += element.text
    for child in element.iterchildren(tag=etree.Element):
        tag = child.tag
        if tag == "br":
            lines.append("")
        elif tag not in _SKIPPED_TAGS:
            block = tag in _LINE_BLOCKS
            if block:
                lines.append("")
            _lines(child, lines)
            if block:
                lines.append("")
        if child.tail:
            lines[-1] += child.tail


def _not_content(element: Any) -> bool:
    if "data-tms-ad-type" in element.attrib:
        return True
    classes = element.get("class", "")
    return any(name in classes for name in _NOT_CONTENT_CLASSES)


def _is_bold_only(paragraph: Any) -> bool:
    """`<p><strong>…</strong></p>`: the subhead style of older pages."""
    children = [c for c in paragraph if isinstance(c.tag, str)]
    if len(children) != 1 or children[0].tag not in ("strong", "b"):
        return False
    text = clean_text(text_of(paragraph))
    return text is not None and clean_text(text_of(children[0])) == text


def largest_rendition(img: Any) -> str | None:
    """The widest ``srcset`` candidate; ``src`` unless it is a lazy ``data:`` placeholder."""
    candidates = [(int(w), u) for u, w in _SRCSET_ITEM.findall(img.get("srcset", "") or "")]
    if candidates:
        return max(candidates)[1]
    src = img.get("src") or img.get("data-src")
    return src if src and not src.startswith("data:") else None


def _image(metas: dict[str, list[str]], ld: dict[str, Any], figures: list) -> dict[str, Any] | None:
    figure = figures[0] if figures else None
    imgs = list(figure.iter("img")) if figure is not None else []
    ld_image = ld.get("image")
    if isinstance(ld_image, list):
        ld_image = ld_image[0] if ld_image else None
    if isinstance(ld_image, dict):
        ld_image = ld_image.get("url") or ld_image.get("contentUrl")
    candidates = [
        first(metas.get("og:image")),
        _str(ld_image),
        largest_rendition(imgs[0]) if imgs else None,
    ]
    url = next(
        (
            c.strip()
            for c in candidates
            if c and _DEFAULT_IMAGE not in c and c.strip().startswith(("http://", "https://"))
        ),
        None,
    )
    if not url:
        return None
    # Raw texts: the loader cleans them (an empty first span leaves no caption).
    spans = [text_of(s) for s in FIGCAPTION_SPANS(figure)] if figure is not None else []
    caption = spans[0] if spans else (imgs[0].get("alt") if imgs else None)
    credit = spans[1] if len(spans) > 1 else None
    return {"url": url, "caption": caption, "credit": credit}


def content_type(
    layer: dict[str, Any],
    metas: dict[str, list[str]],
    media: list[dict[str, Any]],
    programme: str | None,
) -> str:
    """article, audio, video or live. The datalayer's values beyond `article`/`texte` are
    [reported], not seen here, so several spellings are accepted."""
    kind = str(layer.get("content_type") or "").lower()
    media_type = str(layer.get("main_media_type") or "").lower()
    og_type = (first(metas.get("og:type")) or "").lower()
    if "live" in kind:
        return "live"
    if media_type in ("video", "vidéo", "videos") or og_type.startswith("video"):
        return "video"
    if media_type in ("audio", "son", "sound", "podcast", "emission", "émission"):
        return "audio"
    if media and media[0]["kind"] == "video":
        return "video"
    if media and (programme or media_type != "texte"):
        return "audio"
    return "article"


def related_links(asides: list[Any], page_url: str, base_url: str | None) -> list[dict[str, str]]:
    """The "same topic" aside (of the page's ``asides``), whatever its heading; the page
    itself dropped."""
    asides = [aside for aside in asides if aside.get("data-org-type") == RELATED_ASIDE_TYPE]
    links = [link for aside in asides for link in RELATED_TITLE_LINKS(aside)]
    if not links:
        links = [
            found[0]
            for aside in asides
            for teaser in RELATED_TEASERS(aside)
            if (found := RELATED_TITLE_LINK(teaser) or RELATED_ANY_LINK(teaser))
        ]
    related = []
    for link in links:
        url = urls.canonical_content_url(link.get("href", ""), page_url, base_url)
        if url and url != page_url:
            # Raw title candidates, best first: the loader picks the first non-blank.
            related.append({"url": url, "title": [text_of(link), link.get("title")]})
    return related


def _body_links(body: Any, page_url: str, base_url: str | None) -> list[str]:
    """Content pages the article's body (``.t-content__body``) links, the page itself left out."""
    hrefs = BODY_LINKS(body) if body is not None else []
    found = (
        urls.canonical_content_url(h, page_url, base_url, editions=("cn", "tw")) for h in hrefs
    )
    return [u for u in found if u and u != page_url]


def translations(root: Any, edition: str | None, base_url: str | None) -> dict[str, str]:
    """Twins in the other Chinese edition, from ``<link rel="alternate" hreflang>``."""
    own = urls.EDITION_LANGUAGES.get(edition or "")
    twins: dict[str, str] = {}
    for link in ALTERNATES(root):
        language = link.get("hreflang")
        if language in urls.EDITION_LANGUAGES.values() and language != own:
            url = urls.canonical_content_url(
                link.get("href", ""), urls.SITE_ORIGIN + "/", base_url, editions=("cn", "tw")
            )
            if url:
                twins.setdefault(language, url)
    return twins


def tag_hubs(
    selector: Selector,
    page_url: str,
    base_url: str | None = None,
    marks: Landmarks | None = None,
) -> list[str]:
    """Canonical URLs of the article's keyword hubs (``/cn/关键词/<tag>/``)."""
    hubs: list[str] = []
    for link in (marks or Landmarks(selector.root)).tag_links:
        url = urls.resolve_link(link.get("href", ""), page_url, base_url)
        if url and urls.is_tag_path(urls.path_of(url)) and url not in hubs:
            hubs.append(url)
    return hubs
