"""Archive files and crawled pages meet in the loader; hostile and broken files are reported."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parsel import Selector
from scrapy.utils.test import get_crawler

from rfi_crawler.archive import ArchiveError, archive_name, read_archive, record_of, title_line
from rfi_crawler.dataset.cli import main
from rfi_crawler.extract.article import extract_article
from rfi_crawler.processors import ID_PATTERN
from rfi_crawler.records import EXTRACTOR_VERSION
from rfi_crawler.schema import record_schema, validation_errors

URL = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20251130-x"
PROGRAMME_URL = (
    "https://www.rfi.fr/cn/%E4%B8%93%E6%A0%8F%E6%A3%80%E7%B4%A2/"
    "%E7%94%9F%E6%80%81-%E5%81%A5%E5%BA%B7%E4%B8%8E%E7%A7%91%E6%8A%80/20201010-y"
)


def page(body: str, url: str = URL, title: str = "标题", head: str = "") -> str:
    return (
        f'<html><head><link rel="canonical" href="{url}">{head}</head><body>'
        f'<article data-article-content><h1 class="t-content__title">{title}</h1>'
        f'<div class="t-content__body">{body}</div></article></body></html>'
    )


def archive_text(body: str, url: str = URL, title: str = "标题") -> str:
    return (
        f"<!--1700000000000-->\n[{title}]({url})\n------\n\n<div>30/11/2025 - 10:13</div>"
        f"<div>{body}<div data-selfpromo-newsletter></div><div data-selfpromo-app></div></div>\n"
    )


def crawled(body: str, **kw: str) -> dict:
    item = extract_article(Selector(text=page(body, **kw)), URL)
    return dataclasses.asdict(item)


def imported(tmp_path: Path, body: str, **kw: str) -> dict:
    path = tmp_path / "a.md"
    path.write_text(archive_text(body, **kw), encoding="utf-8")
    return record_of(read_archive(path))


# Body rendering: one block per paragraph/list/blockquote; a list item or <br> is a line.
PARITY = [
    ("<p>one</p><ul><li>a</li><li>b</li></ul>", "one\n\na\nb"),
    ("<ol><li>first</li><li> </li><li>second</li></ol><p>end</p>", "first\nsecond\n\nend"),
    ("<ul><li>a<ul><li>a1</li><li>a2</li></ul></li><li>b</li></ul>", "a\na1\na2\nb"),
    ("<blockquote><p>q1</p><p>q2</p></blockquote><p>after</p>", "q1\nq2\n\nafter"),
    ("<p>line one<br>line two<br/><br>line three</p>", "line one\nline two\nline three"),
    ("<p></p><p> \u00a0</p><p>text</p><p><br></p>", "text"),
    ("<h2>小标题</h2><p><strong>粗体</strong></p><p>正文 <em>强调</em>。</p>", None),
    ('<p>see <a href="/cn/%E4%B8%AD%E5%9B%BD/20251101-z">z</a></p>', "see z"),
]


@pytest.mark.parametrize(("body", "expected"), PARITY)
def test_the_same_html_gives_byte_identical_fields_on_both_paths(tmp_path, body, expected):
    crawl, archive = crawled(body), imported(tmp_path, body)
    for field in ("title", "body", "subheadings", "credit", "links", "char_count", "content_hash"):
        assert crawl[field] == archive[field], field
    if expected is not None:
        assert crawl["body"] == expected
    assert crawl["extractor_version"] == archive["extractor_version"] == EXTRACTOR_VERSION


def test_the_loader_is_the_normaliser_without_scrapy(tmp_path):
    # Importing an archive file must work where Scrapy is not installed (rfi_crawler.dataset.cli
    # belongs to the dataset tools' own check). itemadapter imports Scrapy when it can, to know
    # scrapy.Item, so "scrapy in sys.modules" is not the test: its absence is.
    path = tmp_path / "a.md"
    path.write_text(archive_text("<p>x</p>"), encoding="utf-8")
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'scrapy' or name.startswith('scrapy.'):\n"
        "            raise ImportError('no scrapy here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from pathlib import Path\n"
        "from rfi_crawler.archive import read_archive\n"
        f"print(read_archive(Path({str(path)!r})).body)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "x"


# Issue 12 point 3: findings in real archive files, met by the crawl too.
def test_contenu_is_no_section(tmp_path):
    url = "https://www.rfi.fr/cn/contenu/20201010-x"
    assert imported(tmp_path, "<p>x</p>", url=url)["section"] is None
    assert (
        dataclasses.asdict(extract_article(Selector(text=page("<p>x</p>", url=url)), url))[
            "section"
        ]
        is None
    )


@pytest.mark.parametrize(
    "credit_html",
    ["<p>© 2021 AFP</p>", '<p class="t-copyright">© 2021 AFP</p>', "<p>©2020 AFP </p><p></p>"],
)
def test_an_afp_credit_leaves_the_body(tmp_path, credit_html):
    body = f"<p>巴黎股市上涨。</p>{credit_html}"
    for record in (crawled(body), imported(tmp_path, body)):
        assert record["body"] == "巴黎股市上涨。"
        assert record["credit"] in ("© 2021 AFP", "©2020 AFP")
    assert validation_errors(record) == []


def test_a_credit_mid_body_stays(tmp_path):
    body = "<p>© 2021 AFP</p><p>后文</p>"
    assert crawled(body)["body"] == "© 2021 AFP\n\n后文"


def test_programme_suffix_tolerates_spaces_for_hyphens(tmp_path):
    title = "气候变化与健康 - 生态 健康与科技"
    record = imported(tmp_path, "<p>x</p>", url=PROGRAMME_URL, title=title)
    assert record["title"] == "气候变化与健康"
    crawl = extract_article(Selector(text=page("<p>x</p>", url=PROGRAMME_URL, title=title)), URL)
    assert crawl.title == "气候变化与健康"


def test_a_youtube_player_in_an_archive_file_is_media(tmp_path):
    # As glued in seed file 1015056.md.
    body = (
        '<p>点击视频</p><div  data-wrapper-video-player><div><youtube-playertype="em"'
        'video-type="youtube"source="https://www.youtube.com/embed/fFNUlmxJWK4"'
        'video-id="fFNUlmxJWK4"></youtube-player></div></div>'
    )
    record = imported(tmp_path, body)
    assert record["media"] == [
        {"kind": "video", "url": "https://www.youtube.com/embed/fFNUlmxJWK4", "duration": None}
    ]
    assert record["type"] == "video"


def test_a_video_only_page_may_lack_a_body_and_says_so(tmp_path):
    body = '<div><video-player source="https://www.youtube.com/embed/abc"></video-player></div>'
    record = imported(tmp_path, body)
    assert record["body"] is None and record["type"] == "video"
    assert validation_errors(record) == []
    # …but only a video or audio page, and only with its media.
    assert validation_errors({**record, "type": "article"})
    assert validation_errors({**record, "media": []})


def test_the_2021_2023_tags_markup_and_data_placeholders():
    html = page(
        '<p>x</p><figure><img src="data:image/gif;base64,R0lGOD"></figure>',
    ).replace(
        "</article>",
        '</article><div class="t-content__tags"><ul class="m-tags-list">'
        '<li class="m-tags-list__tag"><a href="/cn/关键词/香港/">香港</a></li></ul></div>',
    )
    item = extract_article(Selector(text=html), URL)
    assert item.tags == ["香港"]
    assert item.image is None  # a data: placeholder is no image
    assert item.id.startswith("RFI-URL-")  # no datalayer, no JSON-LD: still a record


# Issue 10 item 1: ids are validated where they enter; file names never come from input.
@pytest.mark.parametrize(
    "content_id", ["../../../../tmp/x", "a/b", "x" * 300, "a\x00b", "", "..", 7]
)
def test_an_invalid_content_id_falls_back_to_the_url_id_counted(content_id, caplog):
    layer = json.dumps({"content_id": content_id})
    html = page("<p>x</p>", head=f'<script id="datalayer">{layer}</script>')
    crawler = get_crawler()
    crawler.stats.open_spider()
    item = extract_article(Selector(text=html), URL, stats=crawler.stats)
    assert item.id.startswith("RFI-URL-")
    assert ID_PATTERN.fullmatch(item.id)
    if content_id not in ("",):
        assert crawler.stats.get_value("rfi/extract/invalid_content_id") == 1


def test_a_valid_content_id_is_kept():
    layer = json.dumps({"content_id": "WBMZ146377-RFI-CN-20251130"})
    html = page("<p>x</p>", head=f'<script id="datalayer">{layer}</script>')
    assert extract_article(Selector(text=html), URL).id == "WBMZ146377-RFI-CN-20251130"


def test_the_schema_pattern_is_the_loaders():
    assert record_schema()["properties"]["id"]["pattern"] == f"^{ID_PATTERN.pattern}$"


def base_record(tmp_path: Path) -> dict:
    return imported(tmp_path, "<p>正文</p>")


@pytest.mark.parametrize(
    "hostile_id", ["../../../../tmp/rfi-escape", "a/b", "x" * 300, "a\x00b", "/etc/passwd"]
)
def test_export_archive_names_files_safely(tmp_path, hostile_id):
    records = tmp_path / "in.jsonl"
    records.write_text(
        json.dumps({**base_record(tmp_path), "id": hostile_id}) + "\n", encoding="utf-8"
    )
    out = tmp_path / "out" / "files"
    main(["export-archive", str(records), "-o", str(out), "--skip-invalid"])
    assert not Path("/tmp/rfi-escape.txt").exists()
    assert not (tmp_path / "out" / "x.txt").exists()
    for written in out.iterdir():
        assert written.parent == out and len(written.name) <= 140
    name = archive_name({**base_record(tmp_path), "id": hostile_id})
    assert "/" not in name and "\x00" not in name and ".." not in name and len(name) <= 140


def test_two_records_with_one_id_get_two_files(tmp_path):
    one = base_record(tmp_path)
    two = {**one, "title": "另一个标题", "content_hash": "0" * 64}
    records = tmp_path / "in.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in (one, two)), encoding="utf-8")
    assert main(["export-archive", str(records), "-o", str(tmp_path / "files")]) == 0
    assert len(list((tmp_path / "files").iterdir())) == 2


# Issue 10 items 6 and 13.
def test_a_hostile_file_of_author_labels_parses_in_linear_time(tmp_path):
    path = tmp_path / "hostile.md"
    labels = "<span>作者：</span>" * 60_000  # ~1 MB, no author link anywhere
    # In a block of its own after the body, closed as a whole file's last block is.
    text = archive_text("<p>x</p>").rstrip("\n") + f"<div>{labels}</div>\n"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > 1_000_000
    started = time.perf_counter()
    record = record_of(read_archive(path))
    assert time.perf_counter() - started < 5  # today's regex: minutes
    assert record["authors"] == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[a](u)", ("a", "u")),
        ("[a [b] c](http://x/y)", ("a [b] c", "http://x/y")),
        ("[t](u)](v)", ("t](u)", "v")),  # greedy, as the format says
        ("[a](b)]()", ("a", "b)](")),
        ("[a](x y)", None),
        ("[a]()", None),
        ("a](u)", None),
        ("[](u)", ("", "u")),
    ],
)
def test_the_title_line_is_read_greedily(line, expected):
    assert title_line(line) == expected


def test_a_hostile_title_line_parses_in_linear_time(tmp_path):
    path = tmp_path / "title.md"
    path.write_text(
        "<!--1700000000000-->\n[" + "](x" * 300_000 + " \n------\n\n<div></div>\n",
        encoding="utf-8",
    )
    started = time.perf_counter()
    with pytest.raises(ArchiveError, match="expected"):
        read_archive(path)
    assert time.perf_counter() - started < 5  # the old regex: 43 s for 40,000 repeats


def test_a_page_too_deep_to_parse_is_reported_not_emptied(tmp_path, capsys):
    path = tmp_path / "deep.md"
    path.write_text(archive_text("<div>" * 100_000 + "<p>x</p>"), encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"deep\.md"):
        read_archive(path)
    assert main(["import-archive", str(path), "-o", str(tmp_path / "o.jsonl")]) != 0
    assert "deep.md" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        "<!--1700000000000-->\n[标题](" + URL + ")\n------\n\n",  # no HTML line
        archive_text("<p>完整的一段</p><p>被截")[:-120],  # cut short mid-body
    ],
)
def test_a_broken_file_is_reported_and_counted(tmp_path, text, capsys):
    path = tmp_path / "cut.md"
    path.write_text(text, encoding="utf-8")
    assert main(["import-archive", str(path), "-o", str(tmp_path / "o.jsonl")]) != 0
    assert "cut.md" in capsys.readouterr().err
    good = tmp_path / "good.md"
    good.write_text(archive_text("<p>x</p>"), encoding="utf-8")
    out = tmp_path / "o2.jsonl"
    assert main(["import-archive", str(path), str(good), "-o", str(out), "--skip-invalid"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
    assert "skipped 1" in capsys.readouterr().err


def test_a_newline_in_a_title_round_trips(tmp_path):
    one = {**base_record(tmp_path), "title": "第一行\n第二行 ](x) [y"}
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps(one) + "\n", encoding="utf-8")
    assert main(["export-archive", str(records), "-o", str(tmp_path / "files")]) == 0
    (written,) = (tmp_path / "files").iterdir()
    assert len(written.read_text(encoding="utf-8").split("\n")) == 6  # 5 lines + final \n
    back = record_of(read_archive(written))
    assert back["title"] == "第一行 第二行 ](x) [y"  # the loader folds whitespace, as in a crawl
    assert back["body"] == one["body"] and back["url"] == one["url"]


def test_crawled_players_give_media_and_a_media_only_page_is_valid():
    video = json.dumps({"mediaId": "v1", "sources": [{"url": "https://media.rfi.fr/v1.mp4"}]})
    audio = json.dumps(
        {"mediaId": "a1", "sources": [{"url": "https://aod.rfi.fr/a1.mp3"}], "duration": 469}
    )
    ld = json.dumps(
        {
            "@type": "NewsArticle",
            "audio": {"contentUrl": "https://aod.rfi.fr/a2.mp3", "duration": "P0DT0H7M49S"},
        }
    )
    head = f'<script type="application/ld+json">{ld}</script>'
    body = (
        f'<div><script data-media-video-id="v1">{video}</script></div>'
        f'<button class="m-feed-sub__audio"><script>{audio}</script></button>'
    )
    item = extract_article(Selector(text=page(body, head=head)), URL)
    assert item.media == [
        {"kind": "audio", "url": "https://aod.rfi.fr/a1.mp3", "duration": 469},
        {"kind": "audio", "url": "https://aod.rfi.fr/a2.mp3", "duration": 469},
        {"kind": "video", "url": "https://media.rfi.fr/v1.mp4", "duration": None},
    ]
    record = dataclasses.asdict(item)
    del record["version"]  # assigned at export
    record["crawl"] = {
        "fetched_at": "2026-11-25T10:00:00+00:00",
        "via": "url",
        "referer": None,
        "depth": 0,
    }
    assert record["body"] is None and record["type"] in ("audio", "video")
    assert validation_errors(record) == []


def test_a_copyright_paragraph_is_the_credit_whatever_its_words(tmp_path):
    body = '<p>正文。</p><p class="t-copyright">© Agence France-Presse</p>'
    for record in (crawled(body), imported(tmp_path, body)):
        assert (record["body"], record["credit"]) == ("正文。", "© Agence France-Presse")


def test_a_crawled_youtube_player_is_media():
    body = '<p>点击视频</p><youtube-player source="https://www.youtube.com/embed/abc"></youtube-player>'
    assert crawled(body)["media"] == [
        {"kind": "video", "url": "https://www.youtube.com/embed/abc", "duration": None}
    ]


WORDS = st.sampled_from(["中国", "台海 局势", " ", "", "A&amp;B", "© 2021 AFP", "\u00a0", "新闻。"])
INLINE = st.recursive(
    WORDS,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["strong", "em", "a", "span"]), st.lists(inner, max_size=3)).map(
            lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"
        ),
        st.lists(inner, max_size=3).map("<br>".join),
    ),
    max_leaves=6,
)
ITEMS = st.lists(INLINE, max_size=3)
BLOCK = st.recursive(
    st.one_of(
        INLINE.map(lambda t: f"<p>{t}</p>"),
        INLINE.map(lambda t: f"<h2>{t}</h2>"),
        ITEMS.map(lambda items: "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda b: f"<blockquote>{''.join(b)}</blockquote>"),
        st.lists(inner, max_size=3).map(lambda b: f"<div>{''.join(b)}</div>"),
        st.tuples(INLINE, st.lists(inner, max_size=2)).map(
            lambda t: f"<ol><li>{t[0]}{''.join(t[1])}</li></ol>"
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.lists(BLOCK, min_size=1, max_size=5).map("".join))
def test_random_bodies_give_the_same_fields_on_both_paths(body):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.md"
        path.write_text(archive_text(body), encoding="utf-8")
        try:
            archive = record_of(read_archive(path))
        except ArchiveError:
            archive = None
    crawl = crawled(body)
    if archive is None:  # refused only when the record would fail the schema: no body
        assert crawl["body"] is None
        return
    for field in ("body", "subheadings", "credit", "content_hash"):
        assert crawl[field] == archive[field], (field, body)


def test_a_subhead_with_a_line_break_survives_export_and_import(tmp_path):
    one = imported(tmp_path, "<h2>上行<br>下行</h2><p>正文</p>")
    assert one["subheadings"] == ["上行\n下行"] and one["body"] == "上行\n下行\n\n正文"
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps(one) + "\n", encoding="utf-8")
    assert main(["export-archive", str(records), "-o", str(tmp_path / "files")]) == 0
    (written,) = (tmp_path / "files").iterdir()
    again = record_of(read_archive(written))
    assert (again["body"], again["subheadings"]) == (one["body"], one["subheadings"])
