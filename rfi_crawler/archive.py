"""The five-line archive format researchers already hold (feedx / duty-machine), both ways.

A file is one article: ``<!--epoch ms-->``, ``[TITLE](URL)``, ``------``, an empty line,
and the article's HTML on one line (see ../shared/seed_corpus/FORMAT.md). That HTML was
made by gluing trimmed lines together, so attributes that stood on their own line are
glued to their tag (``<asidedata-org-name=""…>``, ``<divdata-article-list>``): the parts
are found by their text, and only the body, which parses cleanly, goes through lxml.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import html as lxml_html

from rfi_crawler import urls
from rfi_crawler.extract.article import blocks_of
from rfi_crawler.items import ArticleItem
from rfi_crawler.processors import PARIS, clean_text, paris_to_utc_iso, strip_title_suffix
from rfi_crawler.records import finalize

TIMESTAMP = re.compile(r"^<!--(\d{13})-->$")
TITLE_LINE = re.compile(r"^\[(.*)\]\((\S+)\)$")  # greedy: titles may hold [ ] themselves
DATE = re.compile(r"^\s*<div>(\d{2}/\d{2}/\d{4} - \d{2}:\d{2})</div>")
IMAGE = re.compile(r'^<img src="([^"]*)">')
LEAD = re.compile(r"^<p><strong>(.*?)</strong></p>", re.S)
BODY_OPEN = re.compile(r"^<div[^>]*>")
BODY_END = "<div data-selfpromo-newsletter></div>"
AUTHOR = re.compile(r"<span>作者：\s*</span>.*?<a [^>]*>([^<]+)</a>", re.S)
RELATED = re.compile(
    r'<span>([^<]*)</span></div><div><a href="([^"]+)"[^>]*data-article-item-link[^>]*>'
    r"<h2>(.*?)</h2></a>",
    re.S,
)
LIVE_TITLE = re.compile(r"^\[\s*live\b", re.I)
VIDEO_MARKUP = ("video-player", "<video", "m-em-video", "youtube.com/embed")
IMAGE_HOST = "https://s.rfi.fr/"
# Programme names seen under /cn/专栏检索/ in the captured pages and archive files: a
# " - <name>" title suffix names the programme even when the URL does not (2020 clones).
KNOWN_PROGRAMMES = frozenset(
    {
        "中华世界",
        "今日经济",
        "健康时间",
        "台北一周",
        "国际纵横",
        "欧洲思想文化长廊",
        "法国世界报",
        "法国报纸摘要",
        "法语世界",
        "特别节目",
        "环保天地",
        "环境与发展",
        "美国专栏",
        "要闻分析",
        "要闻解说",
    }
)


class ArchiveError(ValueError):
    """A file that is not in the five-line archive format; the message names the file."""


def read_archive(path: Path) -> ArticleItem:
    """The record of one archive file (``crawl.via`` = ``archive``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{path}: cannot read it as UTF-8 text: {exc}") from exc
    lines = text.split("\n")
    if len(lines) < 5 or lines[2].strip() != "------":
        raise ArchiveError(f"{path}: not the five-line archive format (line 3 must be ------)")
    stamp = TIMESTAMP.match(lines[0].strip())
    heading = TITLE_LINE.match(lines[1].strip())
    if not heading:
        raise ArchiveError(f"{path}:2: expected [TITLE](URL)")
    raw_title, raw_url = heading.groups()
    url = urls.canonical_url(raw_url)
    if url is None:
        raise ArchiveError(f"{path}:2: {raw_url!r} is not a www.rfi.fr URL")
    page = "\n".join(lines[4:]).strip()
    return parse_archive_html(page, url, html.unescape(raw_title), stamp and int(stamp.group(1)))


def parse_archive_html(page: str, url: str, title: str, fetched_ms: int | None) -> ArticleItem:
    path = urls.path_of(url)
    programme = urls.programme_in_path(path) or _programme_in_title(title)
    rest = page
    date = DATE.match(rest)
    published = paris_to_utc_iso(date.group(1)) if date else None
    rest = rest[date.end() :] if date else rest
    image_match = IMAGE.match(rest)
    if image_match:
        rest = rest[image_match.end() :]
    elif rest.startswith("Array"):  # one file holds the literal text Array for its image
        rest = rest[len("Array") :]
    lead_match = LEAD.match(rest)
    lead = clean_text(_text(lead_match.group(1))) if lead_match else None
    rest = rest[lead_match.end() :] if lead_match else rest
    body_html, after = _split_body(rest)
    blocks, subheadings = (
        blocks_of(lxml_html.fragment_fromstring(body_html, create_parent="div"))
        if body_html.strip()
        else ([], [])
    )
    image_url = image_match.group(1) if image_match else ""
    item = ArticleItem(
        id=urls.derived_id(url),
        url=url,
        edition=urls.edition_of(path),
        language=urls.EDITION_LANGUAGES.get(urls.edition_of(path) or ""),
        type=_type(title, page, programme),
        title=strip_title_suffix(clean_text(title) or "", {"programme": programme}) or None,
        kicker=None,
        lead=lead,
        body="\n\n".join(blocks) or None,
        subheadings=subheadings,
        published_at=published,
        modified_at=None,
        authors=list(dict.fromkeys(clean_text(a) for a in AUTHOR.findall(after) if clean_text(a))),
        section=urls.section_in_path(path),
        programme=programme,
        tags=[],
        image={"url": image_url, "caption": None, "credit": None}
        if image_url.startswith(IMAGE_HOST) and "img-default-RFI" not in image_url
        else None,
        media=[],
        related=_related(after, url),
        links=_links(body_html, url),
        translations={},
        crawl={
            "fetched_at": datetime.fromtimestamp(fetched_ms / 1000, UTC).isoformat(
                timespec="seconds"
            )
            if fetched_ms
            else None,
            "via": "archive",
            "referer": None,
            "depth": 0,
        },
    )
    return finalize(item)


def _programme_in_title(title: str) -> str | None:
    for dash in (" - ", " – "):
        head, _, tail = title.rpartition(dash)
        if head and tail.strip() in KNOWN_PROGRAMMES:
            return tail.strip()
    return None


def _text(fragment: str) -> str:
    return (
        lxml_html.fragment_fromstring(fragment, create_parent="span").text_content()
        if "<" in fragment
        else html.unescape(fragment)
    )


def _split_body(rest: str) -> tuple[str, str]:
    """(the body's inner HTML, what follows it)."""
    opening = BODY_OPEN.match(rest)
    start = opening.end() if opening else 0
    end = rest.find(BODY_END, start)
    if end < 0:  # no promo marker: the body runs to the feed footer or the end
        end = rest.find("<br><hr>", start)
        end = len(rest) if end < 0 else end
    return rest[start:end], rest[end:]


def _type(title: str, page: str, programme: str | None) -> str:
    if LIVE_TITLE.match(title):
        return "live"
    if any(marker in page for marker in VIDEO_MARKUP):
        return "video"
    return "audio" if programme or "<audio" in page else "article"


def _related(after: str, own_url: str) -> list[dict[str, str]]:
    aside_at = after.find("同一主题")
    if aside_at < 0:
        return []
    found = []
    for _label, href, title in RELATED.findall(after[aside_at:]):
        url = urls.canonical_content_url(html.unescape(href), urls.SITE_ORIGIN + "/")
        if url and url != own_url and url not in (r["url"] for r in found):
            found.append({"url": url, "title": clean_text(_text(title))})
    return found


def _links(body_html: str, own_url: str) -> list[str]:
    hrefs = re.findall(r'<a [^>]*href="([^"]+)"', body_html)
    found = (
        urls.canonical_content_url(html.unescape(h), urls.SITE_ORIGIN + "/", editions=("cn", "tw"))
        for h in hrefs
    )
    return list(dict.fromkeys(u for u in found if u and u != own_url))


def write_archive(record: dict[str, Any], directory: Path) -> Path:
    """One record as an archive file, readable back by ``read_archive``."""
    fetched = (record.get("crawl") or {}).get("fetched_at")
    millis = int(datetime.fromisoformat(fetched).timestamp() * 1000) if fetched else 0
    title = record["title"] + (f" - {record['programme']}" if record.get("programme") else "")
    page = [f"<div>{_paris(record['published_at'])}</div>"]
    if record.get("image"):
        page.append(f'<img src="{html.escape(record["image"]["url"])}">')
    if record.get("lead"):
        page.append(f"<p><strong>{html.escape(record['lead'])}</strong></p>")
    subheads = set(record.get("subheadings") or [])
    body = "".join(
        f"<p><strong>{html.escape(b)}</strong></p>" if b in subheads else _block_html(b)
        for b in (record.get("body") or "").split("\n\n")
        if b
    )
    # What the body's text cannot say: its links (as empty anchors) and a media marker.
    body += "".join(f'<a href="{html.escape(link)}"></a>' for link in record.get("links") or [])
    body += {"video": "<video-player></video-player>", "audio": "<audio></audio>"}.get(
        record.get("type") or "", ""
    )
    page.append(f"<div>{body}{BODY_END}<div data-selfpromo-app></div></div>")
    for author in record.get("authors") or []:
        page.append(
            f'<div><span>作者：</span><a href="/cn/作者/{html.escape(author)}/">'
            f"{html.escape(author)}</a></div>"
        )
    if record.get("related"):
        items = "".join(
            f'<div><divdata-article-list><div><div><div><span></span></div><div><a href="'
            f'{r["url"].removeprefix(urls.SITE_ORIGIN)}" '
            f"data-article-item-link><h2>{html.escape(r['title'] or '')}</h2></a></div></div>"
            f"</div></div></div>"
            for r in record["related"]
        )
        page.append(
            f'<div><asidedata-org-name=""data-org-type=""><div><div role="heading" '
            f'aria-level="2"><span>同一主题</span></div></div><div>{items}</div></aside></div>'
        )
    name = f"{record['id']}.txt"
    target = directory / name
    target.write_text(
        f"<!--{millis:013d}-->\n[{title}]({record['url']})\n------\n\n" + "".join(page) + "\n",
        encoding="utf-8",
    )
    return target


def _block_html(block: str) -> str:
    lines = block.split("\n")
    if len(lines) > 1:  # a list: one line per item
        return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"
    return f"<p>{html.escape(block)}</p>"


def _paris(published_at: str) -> str:
    return datetime.fromisoformat(published_at).astimezone(PARIS).strftime("%d/%m/%Y - %H:%M")


def record_of(item: ArticleItem) -> dict[str, Any]:
    return {k: v for k, v in asdict(item).items() if k != "version"}
