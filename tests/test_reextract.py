"""``rfi-dataset re-extract``: records from archived responses, offline, equal to the crawl's."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from rfi_crawler import urls
from rfi_crawler.dataset.cli import main
from rfi_crawler.dataset.reextract import Report, archived_articles, file_parts
from tests.crawling import crawl_items, exported
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

pytestmark = pytest.mark.inprocess  # a crawl in this process: tests/conftest.py

# What a re-extraction cannot know or says differently (documented in docs/warc.md).
PROVENANCE = {"via", "referer", "depth", "fetched_at"}


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """A replica crawl with WARC capture on: (its run-file records, its WARC files, tmp)."""
    root = tmp_path_factory.mktemp("crawl")
    site = ReplicaSite(articles=60, seed=11)
    starts = sorted({a.path for a in site.start_articles()} - {site.articles[0].path})
    for path, fault in zip(
        starts,
        ("redirect_chain", "gbk_label", "gb18030_bytes", "no_charset", "gone_404"),
        strict=False,
    ):
        site.faults[path] = fault
    with ReplicaServer(site) as server:
        result = crawl_items(
            server.base_url,
            root,
            settings={"RFI_WARC_DIR": str(root / "warc"), "RFI_WARC_MAX_MB": "1"},
        )
    assert result.returncode == 0, result.log[-3000:]
    records = exported(root / "data")
    assert len(records) > 40
    return records, sorted((root / "warc").glob("*.warc.gz")), root


def is_article(uri: str) -> bool:
    return urls.is_content_path(urls.unquote_path(urlsplit(uri).path) or "")


def is_article_response(record) -> bool:
    """What re-extract reads: a 200 response of a content URL (the replica's faults answer
    some article URLs 403, 404 or 500, and a busy crawl can archive those first)."""
    return (
        record.rec_type == "response"
        and record.http_headers.get_statuscode() == "200"
        and is_article(record.rec_headers["WARC-Target-URI"])
    )


def article_responses(warc) -> int:
    with open(warc, "rb") as handle:
        return sum(is_article_response(record) for record in ArchiveIterator(handle))


def holds_article(warc) -> bool:
    return article_responses(warc) > 0


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("jobs", [1, 2])
def test_round_trip_gives_the_crawls_records(captured, tmp_path, jobs, capsys):
    records, warcs, _ = captured
    out = tmp_path / "again.jsonl"
    assert main(["re-extract", *map(str, warcs), "-o", str(out), "--jobs", str(jobs)]) == 0
    assert f"{jobs} {'job' if jobs == 1 else 'jobs'}" in capsys.readouterr().err
    again = read_jsonl(out)
    by_id = {r["id"]: r for r in again}
    assert len(again) == len(by_id) == len(records)
    for original in records:
        record = by_id[original["id"]]
        for name, value in original.items():
            if name in ("version", "detected_at", "changed_fields", "change_cause"):
                continue  # assigned at export by the state store; see --against
            if name != "crawl":
                assert record[name] == value, (original["url"], name)
        crawl, before = record["crawl"], original["crawl"]
        assert crawl["via"] == "warc" and crawl["depth"] == 0
        assert crawl["warc"] == before["warc"]  # the very record the crawl pointed to
        # The WARC-Date is when the response arrived; the crawl's, when it was parsed.
        received = datetime.fromisoformat(crawl["fetched_at"])
        parsed = datetime.fromisoformat(before["fetched_at"])
        assert received <= parsed <= received + timedelta(minutes=2)
        assert crawl["origin"] == before["origin"]  # the replica's, as the crawl names it
        assert set(crawl) - {"warc", "origin"} == PROVENANCE
    assert "version" not in again[0]


@pytest.mark.parametrize("files", ["one", "all"])  # pages to workers; files to workers
def test_jobs_give_the_same_output(captured, tmp_path, files):
    _, warcs, _ = captured
    # "one": the first file holding an article. Listings go first (priority 10), so on a
    # busy machine the first 1 MB file can hold listings only, and re-extract nothing.
    chosen = [next(w for w in warcs if holds_article(w))] if files == "one" else warcs
    assert files == "one" or len(chosen) >= 4
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}.jsonl"
        assert main(["re-extract", *map(str, chosen), "-o", str(out), "--jobs", str(jobs)]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0]


def test_against_the_run_files_writes_only_what_changed(captured, tmp_path, capsys):
    records, warcs, root = captured
    out = tmp_path / "changed.jsonl"
    run_files = str(root / "data" / "output")
    assert main(["re-extract", *map(str, warcs), "-o", str(out), "--against", run_files]) == 0
    assert read_jsonl(out) == []
    assert f"unchanged {len(records)}" in capsys.readouterr().err

    # An older extractor gave one article other tags: re-extraction makes it version 2.
    edited = [dict(r) for r in records]
    edited[0]["tags"] = ["旧标签"]
    older = tmp_path / "older.jsonl"
    older.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in edited))
    assert main(["re-extract", *map(str, warcs), "-o", str(out), "--against", str(older)]) == 0
    (changed,) = read_jsonl(out)
    assert changed["id"] == records[0]["id"] and changed["version"] == records[0]["version"] + 1
    assert changed["tags"] == records[0]["tags"]
    assert "changed 1" in capsys.readouterr().err


def test_a_warc_cut_short_keeps_the_records_before_the_cut(captured, tmp_path, capsys):
    _, warcs, _ = captured
    # Two articles at least, so that one survives the cut (a busy crawl can fill a file
    # with listings and a single article).
    first = next(w for w in warcs if article_responses(w) >= 2)
    with open(first, "rb") as handle:
        records = ArchiveIterator(handle)
        articles = [
            records.get_record_offset() for record in records if is_article_response(record)
        ]
    cut = tmp_path / first.name  # same name: the records point to the same file
    # Inside the last article's record, as a crash or a bad copy leaves it.
    cut.write_bytes(first.read_bytes()[: articles[-1] + 5000])
    out, whole = tmp_path / "cut.jsonl", tmp_path / "whole.jsonl"
    assert main(["re-extract", str(cut), "-o", str(out)]) == 0
    assert f"cut short, read up to the cut: {cut.name}" in capsys.readouterr().err
    assert main(["re-extract", str(first), "-o", str(whole)]) == 0
    kept, everything = read_jsonl(out), read_jsonl(whole)
    assert len(kept) == len(everything) - 1 > 0
    assert kept == everything[: len(kept)]


def test_bad_arguments_fail_with_one_line(tmp_path, capsys):
    assert main(["re-extract", str(tmp_path / "nope.warc.gz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rfi-dataset: no such WARC file") and err.count("\n") == 1
    (tmp_path / "a.warc.gz").write_bytes(b"")
    with pytest.raises(SystemExit) as exit_:  # a usage error, as every out-of-range option
        main(["re-extract", str(tmp_path / "a.warc.gz"), "--jobs", "0"])
    assert exit_.value.code == 2
    assert "argument --jobs: '0' is not a number of worker processes" in capsys.readouterr().err
    (tmp_path / "b.warc.gz").write_bytes(b"this is no WARC file\n" * 100)
    assert main(["re-extract", str(tmp_path / "b.warc.gz")]) == 1
    err = capsys.readouterr().err
    assert "b.warc.gz: not a readable WARC file" in err and err.count("\n") == 1


def test_fingerprint_ignores_provenance_and_fields_added_since():
    from rfi_crawler.dataset.reextract import fingerprint

    record = {"id": "A", "title": "t", "credit": None, "crawl": {"via": "rss"}, "version": 3}
    older = {"id": "A", "title": "t", "crawl": {"via": "warc"}, "extractor_version": 1}
    assert fingerprint(record) == fingerprint(older)
    assert fingerprint(record) != fingerprint({**older, "title": "t2"})
    assert fingerprint(record) != fingerprint({**older, "credit": "© AFP"})


def richest(warcs):
    """The WARC file holding the most article responses."""
    return max(warcs, key=lambda w: len(read_part(w, 0, None)[0]))


def read_part(path, start, end):
    report = Report()
    with open(path, "rb") as handle:
        handle.seek(start)
        return list(archived_articles(path, handle, report, end)), report


def test_a_file_cut_at_any_record_gives_the_same_responses_and_referers(captured):
    """Workers read parts of one file: split at every record start, the two parts give
    exactly the whole file's responses, each with its Referer (the request after a part's
    last response lies in the next part)."""
    _, warcs, _ = captured
    path = richest(warcs)
    whole, _ = read_part(path, 0, None)
    assert len(whole) >= 2 and any(a.referer for a in whole)
    with open(path, "rb") as handle:
        records = ArchiveIterator(handle)
        starts = []
        for _record in records:
            starts.append(records.get_record_offset())
    assert len(starts) > 10
    for cut in starts[1:]:
        first, _ = read_part(path, 0, cut)
        second, _ = read_part(path, cut, None)
        assert first + second == whole, cut


def test_file_parts_start_at_records_and_cover_the_file(captured):
    _, warcs, _ = captured
    path = richest(warcs)
    with open(path, "rb") as handle:
        records = ArchiveIterator(handle)
        starts = set()
        for _record in records:
            starts.add(records.get_record_offset())
    for pieces in (1, 2, 3, 8, 1000):
        parts = file_parts(path, pieces)
        assert parts[0][1] == 0 and parts[-1][2] is None
        assert all(a[2] == b[1] for a, b in itertools.pairwise(parts))
        assert {start for _, start, _ in parts} <= starts
        assert len(parts) <= pieces
    assert len(file_parts(path, 8)) > 4
    whole, _ = read_part(path, 0, None)
    by_parts = [a for _, s, e in file_parts(path, 8) for a in read_part(path, s, e)[0]]
    assert by_parts == whole


def test_a_plain_warc_is_one_part(tmp_path):
    plain = tmp_path / "plain.warc"
    plain.write_bytes(b"WARC/1.1\r\nWARC-Type: warcinfo\r\n\r\n" * 100)
    assert file_parts(plain, 8) == [(plain, 0, None)]
