"""The five-line archive format researchers already hold (feedx / duty-machine), both ways.

A file is one article: ``<!--epoch ms-->``, ``[TITLE](URL)``, ``------``, an empty line,
and the article's HTML on one line (see ../shared/seed_corpus/FORMAT.md). That HTML was
made by gluing trimmed lines together, so attributes that stood on their own line are
glued to their tag (``<asidedata-org-name=""…>``, ``<divdata-article-list>``): the parts
are found by their text, and only the body, which parses cleanly, goes through lxml.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree
from lxml import html as lxml_html

from rfi_crawler import urls
from rfi_crawler.extract.article import BODY_LINKS, blocks_of
from rfi_crawler.extract.media import glued_player_media
from rfi_crawler.items import ArticleItem
from rfi_crawler.loaders import ArticleLoader
from rfi_crawler.processors import ID_PATTERN, PARIS, paris_to_utc_iso
from rfi_crawler.records import finalize
from rfi_crawler.schema import validation_errors
from rfi_crawler.whole_file import whole_file

TIMESTAMP = re.compile(r"^<!--(\d{13})-->$")
_SPACE = re.compile(r"\s")
DATE = re.compile(r"^\s*<div>(\d{2}/\d{2}/\d{4} - \d{2}:\d{2})</div>")
IMAGE = re.compile(r'^<img src="([^"]*)">')
LEAD = re.compile(r"^<p><strong>(.*?)</strong></p>", re.S)
BODY_OPEN = re.compile(r"^<div[^>]*>")
BODY_END = "<div data-selfpromo-newsletter></div>"
# The promo that closes every body; 2020–21 files give its div classes too.
BODY_END_MARK = "data-selfpromo-newsletter"
FEED_FOOTER = "<br><hr>"
AUTHOR_LABEL = "<span>作者："
AUTHOR_WINDOW = 2000
AUTHOR_LINK = re.compile(r"<a [^>]{0,500}>([^<]+)</a>")
# Bounded repeats keep every pattern here linear in the file's length.
RELATED = re.compile(
    r'<span>([^<]{0,500})</span></div><div><a href="([^"]{1,2000})"[^>]{0,500}'
    r"data-article-item-link[^>]{0,500}><h2>(.{0,2000}?)</h2></a>",
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


class RecordError(ArchiveError):
    """A record the format cannot hold (its title or date missing or out of range): the
    input's fault, not the output folder's."""


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
    heading = title_line(lines[1].strip())
    if not heading:
        raise ArchiveError(f"{path}:2: expected [TITLE](URL)")
    raw_title, raw_url = heading
    url = urls.canonical_url(raw_url)
    if url is None:
        raise ArchiveError(f"{path}:2: {raw_url!r} is not a www.rfi.fr URL")
    page = "\n".join(lines[4:]).strip()
    if not page:
        raise ArchiveError(f"{path}:5: no HTML line (the file is cut short)")
    if not (text.endswith("\n") and page.endswith("</div>")):
        # Every whole file (the 41 seed files, and ours) ends its HTML line with `</div>`
        # and a line end: a file cut anywhere, even after the body's end, lacks them.
        raise ArchiveError(f"{path}:5: the HTML line is cut short (no final </div> and line end)")
    title = _unescape_title(raw_title)
    item = parse_archive_html(page, url, title, stamp and int(stamp.group(1)))
    errors = validation_errors(record_of(item))
    if errors:
        raise ArchiveError(f"{path}: the record fails the schema: {errors[0]}")
    return item


def title_line(line: str) -> tuple[str, str] | None:
    """``[TITLE](URL)`` → (TITLE, URL), as ``^\\[(.*)\\]\\((\\S+)\\)$`` would read it (titles
    may hold ``](`` themselves: the last one whose URL is non-empty and has no space wins),
    in linear time: that regex backtracked for 43 s on a 120 kB line of ``](x``."""
    if not (line.startswith("[") and line.endswith(")")):
        return None
    at = line.rfind("](")
    while at > 0:
        url = line[at + 2 : -1]
        if _SPACE.search(url):
            return None  # every earlier `](` would hold this space too
        if url:
            return line[1:at], url
        at = line.rfind("](", 0, at)
    return None


def parse_archive_html(page: str, url: str, title: str, fetched_ms: int | None) -> ArticleItem:
    """The archive page's parts found by their text, handed raw to the same loader (and
    the same body walker) as a crawled page's, so the same HTML gives the same fields."""
    path = urls.path_of(url)
    programme = urls.programme_in_path(path) or _programme_in_title(title)
    rest = page
    date = DATE.match(rest)
    rest = rest[date.end() :] if date else rest
    image_match = IMAGE.match(rest)
    if image_match:
        rest = rest[image_match.end() :]
    elif rest.startswith("Array"):  # one file holds the literal text Array for its image
        rest = rest[len("Array") :]
    lead_match = LEAD.match(rest)
    rest = rest[lead_match.end() :] if lead_match else rest
    body_html, after = _split_body(rest)
    body = _fragment(body_html)
    blocks, subheadings, credit = blocks_of(body) if body is not None else ([], [], None)
    media = glued_player_media(body_html)
    image_url = html.unescape(image_match.group(1)) if image_match else ""
    edition = urls.edition_of(path)

    loader = ArticleLoader(programme=programme)
    loader.add_value("id", urls.derived_id(url))
    loader.add_value("url", url)
    loader.add_value("edition", edition)
    loader.add_value("language", urls.EDITION_LANGUAGES.get(edition or ""))
    loader.add_value("type", _type(title, page, programme, media))
    loader.add_value("title", title)
    loader.add_value("lead", _text(lead_match.group(1)) if lead_match else None)
    loader.add_value("body", blocks)
    loader.add_value("subheadings", subheadings)
    loader.add_value("credit", credit)
    loader.add_value("published_at", paris_to_utc_iso(date.group(1)) if date else None)
    loader.add_value("authors", [_authors(after)])
    loader.add_value("section", [urls.section_in_path(path)])
    loader.add_value("programme", programme)
    if image_url.startswith(IMAGE_HOST) and "img-default-RFI" not in image_url:
        loader.add_value("image", {"url": image_url, "caption": None, "credit": None})
    loader.add_value("media", media)
    loader.add_value("related", _related(after, url))
    loader.add_value("links", _links(body, url))
    loader.add_value(
        "crawl",
        {
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
    item = loader.load_item()
    return finalize(item)


def _fragment(body_html: str) -> Any:
    """The body as an lxml element, or None when empty or too deep for the parser (a page
    of 100,000 nested divs): the caller's schema check then reports the missing body."""
    if not body_html.strip():
        return None
    try:
        return lxml_html.fragment_fromstring(body_html, create_parent="div")
    except (etree.ParserError, etree.XMLSyntaxError, RecursionError, ValueError):
        return None


def _unescape_title(raw: str) -> str:
    """The title line's entities decoded; ``&#10;`` stands for a newline in a title (the
    format has one line for it), which the loader then folds like any whitespace."""
    return html.unescape(raw)


def _authors(after: str) -> list[str]:
    """Names linked after each ``作者：`` label, found in linear time: the text is cut at
    each label and only a bounded window after it is searched (a regex spanning labels
    backtracked for minutes on a file of 20,000 labels)."""
    names = []
    for piece in after.split(AUTHOR_LABEL)[1:]:
        window = piece[:AUTHOR_WINDOW]
        if not window.lstrip().startswith("</span>"):
            continue
        found = AUTHOR_LINK.search(window)
        if found:
            names.append(found.group(1))
    return names


def _programme_in_title(title: str) -> str | None:
    for dash in (" - ", " – "):
        head, _, tail = title.rpartition(dash)
        if head and tail.strip() in KNOWN_PROGRAMMES:
            return tail.strip()
    return None


def _text(fragment: str) -> str:
    """Raw text of an HTML fragment (the loader cleans it)."""
    if "<" not in fragment:
        return html.unescape(fragment)
    try:
        return lxml_html.fragment_fromstring(fragment, create_parent="span").text_content()
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return html.unescape(fragment)


def _split_body(rest: str) -> tuple[str, str]:
    """(the body's inner HTML, what follows it)."""
    opening = BODY_OPEN.match(rest)
    start = opening.end() if opening else 0
    mark = rest.find(BODY_END_MARK, start)
    end = rest.rfind("<div", start, mark) if mark >= 0 else -1
    if end < 0:  # no promo marker: the body runs to the feed footer or the end
        end = rest.find(FEED_FOOTER, start)
        end = len(rest) if end < 0 else end
    return rest[start:end], rest[end:]


def _type(title: str, page: str, programme: str | None, media: list[dict[str, Any]]) -> str:
    if LIVE_TITLE.match(title):
        return "live"
    if any(m["kind"] == "video" for m in media) or any(m in page for m in VIDEO_MARKUP):
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
            found.append({"url": url, "title": _text(title)})
    return found


def _links(body: Any, own_url: str) -> list[str]:
    hrefs = BODY_LINKS(body) if body is not None else []
    found = (
        urls.canonical_content_url(h, urls.SITE_ORIGIN + "/", editions=("cn", "tw")) for h in hrefs
    )
    return [u for u in found if u and u != own_url]


def write_archive(record: dict[str, Any], directory: Path) -> Path:
    """One record as an archive file, readable back by ``read_archive``; ``RecordError``
    for a record the format cannot hold, ``OutputError`` for a file that cannot be written
    or whose name holds another file already."""
    url = record.get("url")
    if not isinstance(url, str) or _SPACE.search(url) or urls.canonical_url(url) is None:
        # The format's line 2 holds one www.rfi.fr URL, as the importer reads it back.
        raise RecordError(f"cannot export {url!r}: not a www.rfi.fr URL")
    millis = _fetched_millis(record)
    if not (isinstance(record.get("title"), str) and record["title"]):
        raise RecordError(f"cannot export {url!r}: it has no title")
    title = record["title"] + (f" - {record['programme']}" if record.get("programme") else "")
    # The title has one line of its own: its newlines (and the brackets' closing `](`)
    # travel as character references, decoded on import.
    title = title.replace("&", "&amp;").replace("\n", "&#10;").replace("\r", "&#13;")
    page = [f"<div>{_paris(record)}</div>"]
    if (record.get("image") or {}).get("url"):
        page.append(f'<img src="{html.escape(record["image"]["url"])}">')
    if record.get("lead"):
        page.append(f"<p><strong>{html.escape(record['lead'])}</strong></p>")
    subheads = set(record.get("subheadings") or [])
    body = "".join(
        "<p><strong>" + "<br>".join(map(html.escape, b.split("\n"))) + "</strong></p>"
        if b in subheads
        else _block_html(b)
        for b in (record.get("body") or "").split("\n\n")
        if b
    )
    if record.get("credit"):
        body += f'<p class="t-copyright">{html.escape(record["credit"])}</p>'
    # What the body's text cannot say: its links (as empty anchors), its players.
    body += "".join(f'<a href="{html.escape(link)}"></a>' for link in record.get("links") or [])
    media = record.get("media") or []
    body += "".join(
        f'<{m["kind"]}-player source="{html.escape(m["url"])}"></{m["kind"]}-player>'
        for m in media
        if m.get("kind") in ("audio", "video") and m.get("url")
    )
    if not media:
        body += {"video": "<video-player></video-player>", "audio": "<audio></audio>"}.get(
            record.get("type") or "", ""
        )
    page.append(f"<div>{body}{BODY_END}<div data-selfpromo-app></div></div>")
    for author in record.get("authors") or []:
        page.append(
            f'<div><span>作者：</span><a href="/cn/作者/{html.escape(author)}/">'
            f"{html.escape(author)}</a></div>"
        )
    # A related item is held by its link, as a player by its source: none, nothing to hold.
    related = [r for r in record.get("related") or [] if r.get("url")]
    if related:
        items = "".join(
            f'<div><divdata-article-list><div><div><div><span></span></div><div><a href="'
            f'{html.escape(r["url"].removeprefix(urls.SITE_ORIGIN))}" '
            f"data-article-item-link><h2>{html.escape(r.get('title') or '')}</h2></a></div></div>"
            f"</div></div></div>"
            for r in related
        )
        page.append(
            f'<div><asidedata-org-name=""data-org-type=""><div><div role="heading" '
            f'aria-level="2"><span>同一主题</span></div></div><div>{items}</div></aside></div>'
        )
    text = f"<!--{millis:013d}-->\n[{title}]({url})\n------\n\n" + "".join(page) + "\n"
    target = directory / archive_name(record)
    # Whole or not at all (a full disk leaves no cut-off file), and never over another file.
    with whole_file(target, replace=False) as out:
        out.write(text.encode("utf-8"))
    return target


def _fetched_millis(record: dict[str, Any]) -> int:
    """``crawl.fetched_at`` as the first line's 13-digit milliseconds; 0 when unknown."""
    fetched = (record.get("crawl") or {}).get("fetched_at")
    if not fetched:
        return 0
    try:
        millis = int(datetime.fromisoformat(fetched).timestamp() * 1000)
    except (TypeError, ValueError, OverflowError):
        millis = -1
    if not 0 <= millis < 10**13:
        raise RecordError(
            f"cannot export {record.get('url')!r}: fetched_at {fetched!r} out of range"
        )
    return millis


def archive_name(record: dict[str, Any]) -> str:
    """A safe, bounded, collision-free file name for a record: never a path from input.

    The id (when it is a safe id; else ``record``) for readability, then 16 hex digits of
    sha256 over the whole record: two records sharing an id (two versions, or a hostile
    copy) get two files; the same record exported twice gets the same name.
    """
    raw_id = record.get("id")
    readable = raw_id if isinstance(raw_id, str) and ID_PATTERN.fullmatch(raw_id) else "record"
    digest = hashlib.sha256(
        json.dumps(record, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()[:16]
    return f"{readable}_{digest}.txt"


def _block_html(block: str) -> str:
    lines = block.split("\n")
    if len(lines) > 1:  # a list: one line per item
        return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"
    return f"<p>{html.escape(block)}</p>"


def _paris(record: dict[str, Any]) -> str:
    """``published_at`` as the date line's Paris time; a RecordError when missing or
    beyond what the line can say (9999-12-31T23:30Z is already year 10000 in Paris)."""
    published = record.get("published_at")
    try:
        moment = datetime.fromisoformat(published).astimezone(PARIS)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(
            f"cannot export {record.get('url')!r}: published_at {published!r} is not a"
            " time the date line can hold"
        ) from None
    # Not strftime: its %Y drops a small year's leading zeros, which the date line needs.
    return f"{moment.day:02d}/{moment.month:02d}/{moment.year:04d} - {moment:%H:%M}"


def record_of(item: ArticleItem) -> dict[str, Any]:
    return {k: v for k, v in asdict(item).items() if k != "version"}
