"""The offline tools on hostile or broken input: archive export and import, re-extraction,
the diff and edits outputs, the explorer's CSV. Each test failed before its fix."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import os
import random
import stat
import subprocess
import sys
import urllib.parse
from difflib import SequenceMatcher
from pathlib import Path
from xml.etree import ElementTree

import pytest

from rfi_crawler import archive, whole_file
from rfi_crawler.archive import ArchiveError, read_archive, record_of
from rfi_crawler.dataset import textdiff
from rfi_crawler.dataset.atom import atom_feed
from rfi_crawler.dataset.cli import main
from tests.test_whole_file import DiskFull

PROJECT = Path(__file__).resolve().parents[1]
SEED = PROJECT.parent / "shared" / "seed_corpus"
# A seed file with a 同一主题 aside: its export ends with the related links.
WITH_RELATED = SEED / "999965.md"


def run(*argv: object) -> int:
    return main([str(a) for a in argv])


def write_jsonl(path: Path, *records: dict) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def related_record() -> dict:
    record = record_of(read_archive(WITH_RELATED))
    assert len(record["related"]) >= 2
    return record


# -- export-archive on a full disk; import-archive of a cut-off file ----------------------


def test_export_on_a_full_disk_leaves_no_cut_off_file(tmp_path, related_record):
    """The kernel refuses the write mid-file (a file-size limit stands in for a full disk,
    no mount needed): the export fails in one line and leaves nothing behind."""
    records = write_jsonl(tmp_path / "in.jsonl", related_record)
    assert run("export-archive", records, "-o", tmp_path / "whole") == 0
    (whole,) = (tmp_path / "whole").iterdir()
    limit = whole.stat().st_size - 300  # inside the 同一主题 aside
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import resource, signal, sys\n"
        "from rfi_crawler.dataset.cli import main\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        f"sys.exit(main(['export-archive', {str(records)!r}, '-o', {str(out)!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "cannot write" in done.stderr
    assert list(out.iterdir()) == []  # neither a cut-off file nor its temporary file


def test_export_that_hits_enospc_mid_file_names_the_file_and_keeps_nothing(
    tmp_path, related_record, monkeypatch, capsys
):
    records = write_jsonl(tmp_path / "in.jsonl", related_record)
    monkeypatch.setattr(whole_file, "os", DiskFull(room=2000))
    assert run("export-archive", records, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(tmp_path / "out") in err
    assert len(err.splitlines()) == 1
    assert list((tmp_path / "out").iterdir()) == []


def test_a_file_cut_anywhere_after_its_body_is_refused(tmp_path, related_record, capsys):
    """The cut the full disk left (mid-URL in the aside) and every other cut of the end of
    an exported file: the body's end marker is there, the file's end is not."""
    records = write_jsonl(tmp_path / "in.jsonl", related_record)
    assert run("export-archive", records, "-o", tmp_path / "whole") == 0
    (whole,) = (tmp_path / "whole").iterdir()
    text = whole.read_text(encoding="utf-8")
    assert record_of(read_archive(whole)) == record_of(read_archive(WITH_RELATED))
    mid_url = text.rindex('href="/cn/') + 20
    body_end = text.index(archive.BODY_END_MARK)
    cuts = {mid_url, len(text) - 1, *range(body_end + 40, len(text), 23)}
    cut = tmp_path / "cut" / whole.name
    cut.parent.mkdir()
    for at in sorted(cuts):
        cut.write_text(text[:at], encoding="utf-8")
        with pytest.raises(ArchiveError, match="cut short"):
            read_archive(cut)
    cut.write_text(text[:mid_url], encoding="utf-8")
    assert run("import-archive", cut.parent, "-o", tmp_path / "o.jsonl") == 1
    assert f"{cut}:5: the HTML line is cut short" in capsys.readouterr().err


def test_every_seed_file_still_ends_as_a_whole_file():
    names = [p for p in SEED.iterdir() if p.name not in ("FORMAT.md", "SOURCES.md")]
    assert len(names) == 41
    for path in names:
        read_archive(path)


# -- export-archive of records the format cannot hold ----------------------------------------

URL = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20251130-x"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": None}, "it has no title"),
        ({"published_at": None}, "published_at None is not a time"),
        ({"published_at": "9999-12-31T23:30:00+00:00"}, "published_at '9999-12-31T23:30"),
        ({"crawl": {"fetched_at": "0001-01-01T00:00:00+00:00"}}, "fetched_at '0001-01-01"),
        ({"url": "javascript:alert(1)"}, "not a www.rfi.fr URL"),
        ({"url": URL + "\n------"}, "not a www.rfi.fr URL"),
    ],
)
def test_a_record_the_format_cannot_hold_is_one_line_and_exit_1(
    tmp_path, related_record, capsys, change, message
):
    records = write_jsonl(tmp_path / "in.jsonl", {**related_record, **change})
    assert run("export-archive", records, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1, err
    assert list((tmp_path / "out").iterdir()) == []


def test_a_record_with_nothing_but_a_url_is_one_line_and_exit_1(tmp_path, capsys):
    records = write_jsonl(tmp_path / "in.jsonl", {"url": URL})
    assert run("export-archive", records, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.endswith(f"cannot export {URL!r}: it has no title\n") and err.count("\n") == 1


def test_an_extreme_but_valid_date_round_trips(tmp_path, related_record):
    late = {**related_record, "published_at": "9999-12-31T21:00:00+00:00"}
    records = write_jsonl(tmp_path / "in.jsonl", late)
    assert run("export-archive", records, "-o", tmp_path / "out") == 0
    (written,) = (tmp_path / "out").iterdir()
    assert record_of(read_archive(written))["published_at"] == late["published_at"]


def test_an_unexportable_record_names_its_input_line_or_is_skipped(tmp_path, capsys):
    good = record_of(read_archive(WITH_RELATED))
    records = write_jsonl(tmp_path / "in.jsonl", good, {"url": URL})
    assert run("export-archive", records, "-o", tmp_path / "out") == 1
    assert f"{records}:2: cannot export" in capsys.readouterr().err
    assert run("export-archive", records, "-o", tmp_path / "skip", "--skip-invalid") == 0
    assert len(list((tmp_path / "skip").iterdir())) == 1
    err = capsys.readouterr().err
    assert f"{records}:2: skipped: " in err and "skipped 1 invalid" in err


# -- diff --format html, edits --format atom: a record's URL is a link only when a web one --

SCRIPT_URL = "javascript:alert(document.cookie)//"


def versions_of(url: str, **second: object) -> list[dict]:
    base = {
        "id": "A1",
        "url": url,
        "title": "原来的标题",
        "body": "第一段文字。\n\n死亡人数为七十五人。",
        "published_at": "2025-01-01T08:00:00+00:00",
        "extractor_version": 2,
    }
    return [
        {**base, "version": 1, "crawl": {"fetched_at": "2025-01-01T09:00:00+00:00"}},
        {**base, "version": 2, "crawl": {"fetched_at": "2025-01-02T09:00:00+00:00"}, **second},
    ]


def test_diff_html_shows_a_script_url_as_text_not_a_link(tmp_path):
    path = write_jsonl(tmp_path / "run.jsonl", *versions_of(SCRIPT_URL, title="新标题"))
    page = tmp_path / "diff.html"
    assert run("diff", "A1", path, "--format", "html", "-o", page) == 0
    markup = page.read_text("utf-8")
    assert "<a " not in markup and "javascript:alert(document.cookie)//" in markup
    web = write_jsonl(tmp_path / "web.jsonl", *versions_of(URL, title="新标题"))
    assert run("diff", "A1", web, "--format", "html", "-o", page) == 0
    assert f'<a href="{URL}">' in page.read_text("utf-8")


def test_atom_gives_no_link_to_a_script_url(tmp_path):
    path = write_jsonl(tmp_path / "run.jsonl", *versions_of(SCRIPT_URL, title="新标题"))
    out = tmp_path / "edits.atom"
    assert run("edits", path, "--format", "atom", "-o", out) == 0
    root = ElementTree.fromstring(out.read_bytes())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    (entry,) = root.findall("a:entry", ns)
    assert entry.findall("a:link", ns) == [] and b"javascript:" not in out.read_bytes()


def test_atom_stays_well_formed_with_characters_xml_cannot_hold(tmp_path):
    path = write_jsonl(
        tmp_path / "run.jsonl",
        *versions_of(URL + "\x1b", title="new\x01title\x0bwith ctrl \ufffe end"),
    )
    out = tmp_path / "edits.atom"
    assert run("edits", path, "--format", "atom", "--title", "feed\x00", "-o", out) == 0
    root = ElementTree.fromstring(out.read_bytes())  # expat: strict XML 1.0
    ns = {"a": "http://www.w3.org/2005/Atom"}
    (entry,) = root.findall("a:entry", ns)
    assert entry.find("a:title", ns).text == "edited: new\ufffdtitle\ufffdwith ctrl \ufffd end"
    assert entry.find("a:link", ns).get("href") == URL + "\ufffd"
    assert root.find("a:title", ns).text == "feed\ufffd"


def test_atom_replaces_a_lone_surrogate_instead_of_failing_to_encode():
    event = {"kind": "removed", "url": URL, "title": "半个\ud800字", "detected_at": "2025-01-02"}
    feed = atom_feed([event], title="t", feed_id="urn:x")
    assert "半个\ufffd字".encode() in feed
    ElementTree.fromstring(feed)


# -- edits and diff on long one-paragraph bodies: bounded work, exact runs ------------------


class _CountingMatcher(SequenceMatcher):
    """SequenceMatcher counting the element pairs its matching compares (for each element
    of ``a`` in the range, the equal elements of ``b``), stopping once past ``budget``."""

    compared = 0
    scanned = 0
    budget = 0

    def find_longest_match(self, alo=0, ahi=None, blo=0, bhi=None):
        ahi = len(self.a) if ahi is None else ahi
        cls = type(self)
        cls.compared += sum(len(self.b2j.get(self.a[i], ())) for i in range(alo, ahi))
        cls.scanned += ahi - alo  # each call walks its range of a: many short matches, long
        if cls.compared > cls.budget or cls.scanned > cls.budget:
            raise AssertionError(f"over {cls.budget} pairs compared or scanned: quadratic work")
        return super().find_longest_match(alo, ahi, blo, bhi)


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setattr(textdiff, "SequenceMatcher", _CountingMatcher)
    _CountingMatcher.compared = _CountingMatcher.scanned = 0
    return _CountingMatcher


def spell_out(found, old: str, new: str) -> None:
    assert "".join(r.old for r in found) == old and "".join(r.new for r in found) == new


def test_two_long_paragraphs_of_few_characters_cost_linear_work(counting, tmp_path):
    rng = random.Random(8)
    old, new = ("".join(rng.choice("中国法国北京台湾") for _ in range(40_000)) for _ in "ab")
    # The old comparison: each of 40,000 characters against ~5,000 equal ones, then again
    # in every part it recursed into. A linear budget: 20 pairs per character.
    counting.budget = 20 * (len(old) + len(new))
    found = textdiff.runs(old, new)
    spell_out(found, old, new)
    first, second = versions_of(URL)
    path = write_jsonl(tmp_path / "run.jsonl", {**first, "body": old}, {**second, "body": new})
    assert run("edits", path, "-o", tmp_path / "e.jsonl") == 0
    assert run("diff", "A1", path, "--format", "json", "-o", tmp_path / "d.json") == 0
    assert counting.compared <= counting.budget


def test_dense_edits_in_a_long_paragraph_of_many_characters_cost_bounded_work(counting):
    # Few equal pairs, but every third character changed: SequenceMatcher splits the text
    # into thousands of short matches, walking what is left each time (25 s at 20,000).
    rng = random.Random(0)
    alphabet = [chr(code) for code in range(0x4E00, 0x4E00 + 20_000)]
    old = "".join(rng.choice(alphabet) for _ in range(20_000))
    new = "".join(c if i % 3 else rng.choice(alphabet) for i, c in enumerate(old))
    counting.budget = 20 * (len(old) + len(new))
    spell_out(textdiff.runs(old, new), old, new)


def test_dense_edits_in_many_clauses_share_one_budget(counting):
    # Each changed clause within the bound, the whole paragraph not: ten clauses of ~2,000
    # characters, every third one changed, took 1.6 s; forty, 6.6 s.
    rng = random.Random(1)
    alphabet = [chr(code) for code in range(0x4E00, 0x4E00 + 20_000)]
    clauses = ["".join(rng.choice(alphabet) for _ in range(1_990)) for _ in range(10)]
    edited = [
        "".join(c if i % 3 else rng.choice(alphabet) for i, c in enumerate(clause))
        for clause in clauses
    ]
    old = "".join(clause + "。好。" for clause in clauses)
    new = "".join(clause + "。好。" for clause in edited)
    counting.budget = 20 * (len(old) + len(new))
    spell_out(textdiff.runs(old, new), old, new)


def test_a_long_paragraph_with_small_edits_still_shows_just_those(counting):
    rng = random.Random(9)
    words = ("中国", "法国", "北京", "台湾", "总统", "选举", "经济", "人民", "政府", "记者")
    old = "".join(rng.choice(words) + rng.choice(("", "", "", "，", "。")) for _ in range(20_000))
    new = old.replace("总统选举", "议会选举", 3)
    assert new.count("议会选举") == 3
    counting.budget = 20 * (len(old) + len(new))
    found = textdiff.runs(old, new)
    spell_out(found, old, new)
    assert [(r.old, r.new) for r in found if r.op != "equal"] == [("总统", "议会")] * 3


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("中" * 3000, "中" * 1500 + "国" + "中" * 1500, [("", "国")]),  # no clause to cut at
        ("a" * 5000, "a" * 4000 + "b" * 1000, [("a" * 1000, "b" * 1000)]),
    ],
)
def test_a_paragraph_too_long_to_compare_keeps_what_both_start_and_end_with(
    counting, old, new, changed
):
    counting.budget = 20 * (len(old) + len(new))
    found = textdiff.runs(old, new)
    spell_out(found, old, new)
    assert [(r.old, r.new) for r in found if r.op != "equal"] == changed


# -- the explorer's CSV downloads: formula cells neutralised as build --format csv does ------

FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+1", "@SUM(A1)", "-2+3", "=1\n=2")


def test_the_explorers_csv_downloads_neutralise_formulas(tmp_path):
    from tests.test_explorer import TW_RECORD, Served

    records = [
        {**TW_RECORD, "id": f"WBMZ{n}", "url": f"{TW_RECORD['url']}{n}", "title": formula}
        for n, formula in enumerate(FORMULAS, 2)
    ]
    source = write_jsonl(tmp_path / "f.jsonl", *records)
    assert run("build", "--format", "sqlite", source, "-o", tmp_path / "f.db") == 0
    built = tmp_path / "built.csv"
    assert run("build", "--format", "csv", source, "-o", built) == 0
    expected = {row["title"] for row in csv.DictReader(io.StringIO(built.read_text("utf-8-sig")))}
    assert expected == {"'" + formula for formula in FORMULAS}
    server = Served(tmp_path / "f.db")
    try:
        sql = urllib.parse.quote("select title, '@cmd' as \"=x\" from articles")
        for path in (
            "/f/articles.csv",
            "/f/articles.csv?_dl=1&_stream=1",
            "/f/articles.csv?_trace=1",
            f"/f.csv?sql={sql}",
        ):
            status, body = server.get(path)
            assert status == 200, body[:300]
            rows = list(csv.reader(io.StringIO(body)))
            cells = [cell for row in rows for cell in row]
            titles = {row[rows[0].index("title")] for row in rows[1:]}
            assert titles == expected, path
            assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells), path
        assert "'@cmd" in body and "'=x" in body
        status, page = server.get("/f/articles")  # the HTML pages show the text as it is
        assert status == 200 and "=HYPERLINK" in page
    finally:
        server.stop()


def test_a_streamed_csv_body_is_neutralised_whatever_its_pieces():
    from rfi_crawler.dataset.explorer import CsvCells  # Datasette's plugin: the explore extra

    rows = [["title", "body"], ["=1+1", '第一行\n"=引号"\n+2'], ["正常", "@x"], ["-3", ""]]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    data = text.getvalue().encode("utf-8")
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def respond(size: int) -> None:
        cells = CsvCells(send)
        start = {"type": "http.response.start", "status": 200, "headers": []}
        start["headers"] = [[b"content-type", b"text/plain"], [b"content-length", b"1"]]
        await cells(start)
        for at in range(0, len(data), size):
            await cells(
                {"type": "http.response.body", "body": data[at : at + size], "more_body": True}
            )
        await cells({"type": "http.response.body", "body": b""})

    for size in (1, 2, 5, 7, len(data)):
        sent.clear()
        asyncio.run(respond(size))
        assert sent[0]["headers"] == [[b"content-type", b"text/plain"]]
        body = b"".join(m["body"] for m in sent[1:]).decode("utf-8")
        assert list(csv.reader(io.StringIO(body))) == [
            ["title", "body"],
            ["'=1+1", '第一行\n"=引号"\n+2'],
            ["正常", "'@x"],
            ["'-3", ""],
        ]


# -- re-extract: the origin a response came from; one bad WARC-Date ------------------------


def article_page(url: str, title: str) -> bytes:
    return (
        f'<html><head><meta charset="utf-8"><link rel="canonical" href="{url}">'
        '<meta property="article:published_time" content="2025-11-30T09:13:00+00:00">'
        f'</head><body><article data-article-content><h1 class="t-content__title">{title}'
        f'</h1><div class="t-content__body"><p>{title}的正文。</p></div></article></body></html>'
    ).encode()


def write_warc(
    path: Path,
    responses: list[tuple[str, str | None, str]],
    extra: tuple = (),
    declared: str | None = None,
    body: bytes | None = None,
) -> Path:
    """A WARC file of ``(served from, WARC-Date or None, title)`` article responses; with
    ``declared``, a warcinfo record first naming the crawl's origin, as a crawl writes it."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        if declared is not None:
            info = {"software": "rfi-crawler (test)", "rfi-origin": declared}
            writer.write_record(writer.create_warcinfo_record(path.name, info))
        for n, (origin, date, title) in enumerate(responses):
            page = f"/cn/中国/2025113{n}-x".encode().decode("latin-1")
            payload = body if body is not None else article_page("https://www.rfi.fr" + page, title)
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), *extra],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                origin + urllib.parse.quote(page.encode("latin-1").decode()),
                "response",
                payload=io.BytesIO(payload),
                length=len(payload),
                http_headers=headers,
            )
            if date is None:
                record.rec_headers.remove_header("WARC-Date")
            else:
                record.rec_headers.replace_header("WARC-Date", date)
            writer.write_record(record)
    return path


def reextracted(tmp_path: Path, warc: Path, capsys) -> tuple[list[dict], str]:
    out = tmp_path / "out.jsonl"
    assert run("re-extract", warc, "-o", out) == 0
    return [
        json.loads(line) for line in out.read_text("utf-8").splitlines()
    ], capsys.readouterr().err


def test_a_bad_or_missing_warc_date_skips_that_record_only(tmp_path, capsys, caplog):
    warc = write_warc(
        tmp_path / "dates.warc.gz",
        [
            ("https://www.rfi.fr", "2025-11-30T10:00:00Z", "第一篇"),
            ("https://www.rfi.fr", "yesterday", "第二篇"),
            ("https://www.rfi.fr", None, "第三篇"),
            ("https://www.rfi.fr", "2025-11-30T10:05:00.123456Z", "第四篇"),
        ],
    )
    records, err = reextracted(tmp_path, warc, capsys)
    assert [r["title"] for r in records] == ["第一篇", "第四篇"]
    assert records[1]["crawl"]["fetched_at"] == "2025-11-30T10:05:00+00:00"
    assert "cut short" not in err and "Traceback" not in err
    assert "skipped/warc_date 2" in err
    assert "WARC-Date 'yesterday' is not a time" in caplog.text
    assert "WARC-Date None is not a time" in caplog.text


def test_reextracted_records_carry_their_origin_and_off_site_pages_are_skipped(
    tmp_path, capsys, caplog
):
    date = "2025-11-30T10:00:00Z"
    warc = write_warc(
        tmp_path / "origins.warc.gz",
        [
            ("https://www.rfi.fr", date, "真站"),
            ("http://127.0.0.1:8123", date, "本机副本"),
            ("http://evil.example", date, "别处"),
            ("https://www.rfi.fr.evil.example", date, "别处二"),
        ],
    )
    records, err = reextracted(tmp_path, warc, capsys)
    assert [(r["title"], r["crawl"]["origin"]) for r in records] == [
        ("真站", "https://www.rfi.fr"),
        ("本机副本", "http://127.0.0.1:8123"),
    ]
    assert "skipped/off_site 2" in err and "'http://evil.example/cn/" in caplog.text
    # The build's mixed-origin guard sees them, as it sees a crawl's records.
    seed = tmp_path / "seed.jsonl"
    assert run("import-archive", WITH_RELATED, "-o", seed) == 0
    replica = write_jsonl(tmp_path / "replica.jsonl", records[1])
    assert run("build", seed, replica, "-o", tmp_path / "mixed.jsonl") == 1
    assert "records from different origins" in capsys.readouterr().err


def test_a_mirrors_pages_are_kept_when_the_files_crawl_names_it(tmp_path, capsys):
    # A crawl of a mirror (RFI_BASE_URL=http://mirror.example:8080) names its origin in the
    # warcinfo of each WARC file it writes; pages from any other host are still skipped.
    date = "2025-11-30T10:00:00Z"
    responses = [
        ("http://mirror.example:8080", date, "镜像"),
        ("http://evil.example", date, "别处"),
    ]
    declared = write_warc(
        tmp_path / "mirror.warc.gz", responses, declared="http://mirror.example:8080"
    )
    records, err = reextracted(tmp_path, declared, capsys)
    assert [(r["title"], r["crawl"]["origin"]) for r in records] == [
        ("镜像", "http://mirror.example:8080")
    ]
    assert "skipped/off_site 1" in err
    undeclared = write_warc(tmp_path / "other.warc.gz", responses)  # another tool's file
    records, err = reextracted(tmp_path, undeclared, capsys)
    assert records == [] and "skipped/off_site 2" in err


def test_messages_count_in_the_singular_too(tmp_path, capsys):
    one = write_jsonl(tmp_path / "one.jsonl", versions_of("https://www.rfi.fr/cn/a/20250101-x")[0])
    assert run("diff", "A1", one) == 0
    assert "(1 version)" in capsys.readouterr().out
    warc = write_warc(
        tmp_path / "one.warc.gz", [("https://www.rfi.fr", "2025-11-30T10:00:00Z", "一")]
    )
    _, err = reextracted(tmp_path, warc, capsys)
    assert "1 article response from 1 WARC file" in err and "1 job" in err


def test_import_of_a_folder_passes_over_an_exports_leftover_temporary_file(tmp_path, capsys):
    # kill -9 during export-archive leaves .<name>.<random>.tmp, cut short, beside the files.
    folder = tmp_path / "archive"
    folder.mkdir()
    whole = WITH_RELATED.read_bytes()
    (folder / WITH_RELATED.name).write_bytes(whole)
    (folder / f".{WITH_RELATED.name}.k3x9.tmp").write_bytes(whole[: len(whole) // 2])
    assert run("import-archive", folder, "-o", tmp_path / "out.jsonl") == 0
    assert "imported 1 archive file, skipped 0" in capsys.readouterr().err


def test_exported_archive_files_are_as_readable_as_the_umask_makes_files(tmp_path, related_record):
    records = write_jsonl(tmp_path / "in.jsonl", related_record)
    previous = os.umask(0o022)
    try:
        assert run("export-archive", records, "-o", tmp_path / "out") == 0
    finally:
        os.umask(previous)
    (written,) = (tmp_path / "out").iterdir()
    assert stat.S_IMODE(written.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_one_origin_is_one_origin_however_rfi_base_url_was_typed(tmp_path, capsys):
    # RFI_BASE_URL=https://Mirror.example:443 names https://mirror.example: re-extract keeps
    # its pages, and build merges them with that crawl's own records.
    date = "2025-11-30T10:00:00Z"
    warc = write_warc(
        tmp_path / "m.warc.gz",
        [("https://mirror.example", date, "镜像")],
        declared="https://Mirror.example:443",
    )
    records, _ = reextracted(tmp_path, warc, capsys)
    assert [r["crawl"]["origin"] for r in records] == ["https://mirror.example"]
    crawled = {
        **records[0],
        "id": "B1",
        "crawl": {**records[0]["crawl"], "origin": "https://Mirror.example:443"},
    }
    both = write_jsonl(tmp_path / "both.jsonl", records[0], crawled)
    assert run("build", both, "-o", tmp_path / "merged.jsonl") == 0, capsys.readouterr().err


def test_a_csv_cell_longer_than_the_readers_default_limit_keeps_its_row_and_the_rest():
    from rfi_crawler.dataset.explorer import neutralised  # Datasette's plugin: the explore extra

    body = "正" * 140_001  # past csv's default field limit, 131,072
    text = io.StringIO()
    csv.writer(text).writerows([["id", "body"], ["1", body], ["2", "=after"]])
    rows = list(csv.reader(io.StringIO(neutralised(text.getvalue()))))
    assert rows == [["id", "body"], ["1", body], ["2", "'=after"]]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_response_that_inflates_past_the_crawls_limit_is_skipped_unread(tmp_path, capsys, jobs):
    # 3 KB of gzip holding 64 MiB of spaces: read whole, a gigabyte-sized one took the memory.
    bomb = gzip.compress(b" " * (64 << 20), compresslevel=9)
    warc = write_warc(
        tmp_path / "bomb.warc.gz",
        [("https://www.rfi.fr", "2025-11-30T10:00:00Z", "炸弹")],
        extra=(("Content-Encoding", "gzip"),),
        body=bomb,
    )
    out = tmp_path / "out.jsonl"
    assert run("re-extract", warc, "-o", out, "--jobs", jobs) == 0
    err = capsys.readouterr().err
    assert "failed/too_large 1" in err and out.read_text() == ""


def test_a_streamed_table_csv_has_every_row_once_when_the_default_sort_ties(tmp_path):
    from tests.test_explorer import TW_RECORD, Served

    # One published_at for all: Datasette's paging by the default sort (published_at, newest
    # first) then repeats some rows and leaves others out.
    records = [
        {**TW_RECORD, "id": f"WBMZ{n}", "url": f"{TW_RECORD['url']}{n}", "title": f"第{n}篇"}
        for n in range(250)
    ]
    source = write_jsonl(tmp_path / "tie.jsonl", *records)
    assert run("build", "--format", "sqlite", source, "-o", tmp_path / "tie.db") == 0
    server = Served(tmp_path / "tie.db")
    try:
        status, body = server.get("/tie/articles.csv?_stream=1&_col=title")
    finally:
        server.stop()
    assert status == 200, body[:300]
    titles = [row["title"] for row in csv.DictReader(io.StringIO(body))]
    assert sorted(titles) == sorted(f"第{n}篇" for n in range(250))
