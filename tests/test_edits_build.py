"""Removed articles in built datasets (``removed_at``) and versions in the explorer."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rfi_crawler.dataset.cli import main
from tests.test_explorer import TW_RECORD, Served

GONE = "https://www.rfi.fr/tw/政治/20251101-1"
KEPT = "https://www.rfi.fr/tw/政治/20251101-2"
REMOVED_AT = "2025-11-20T10:00:00+00:00"


def version(url: str, number: int, body: str, title: str = "臺灣總統選舉") -> dict:
    fetched = f"2025-11-{number + 1:02d}T00:00:00+00:00"
    return {
        **TW_RECORD,
        "id": "WBMZ1" if url == GONE else "WBMZ2",
        "url": url,
        "title": title,
        "body": body,
        "version": number,
        "detected_at": fetched,
        "crawl": {**TW_RECORD["crawl"], "fetched_at": fetched},
        **({"changed_fields": ["title", "body"], "change_cause": "rfi"} if number > 1 else {}),
    }


def event(kind: str, moment: str, url: str = GONE) -> dict:
    return {
        "event": kind,
        "url": url,
        "id": "WBMZ1",
        "detected_at": moment,
        "run_id": "r",
        "origin": "https://www.rfi.fr",
    }


def write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


@pytest.fixture
def inputs(tmp_path):
    first = write(
        tmp_path / "run1.jsonl",
        [version(GONE, 1, "死亡人数为七十五人。\n\n第二段"), version(KEPT, 1, "另一篇。")],
    )
    second = write(
        tmp_path / "run2.jsonl",
        [
            version(
                GONE, 2, "死亡人数为八十二人。\n\n第二段<script>x</script>", "臺灣總統選舉（更新）"
            ),
            event("removed", REMOVED_AT),
        ],
    )
    return tmp_path, [first, second]


def build(tmp_path: Path, files: list[Path], fmt: str, *more: str) -> Path:
    out = tmp_path / f"out.{fmt}"
    argv = ["build", *map(str, files), "--format", fmt, "-o", str(out), *more]
    assert main(argv) == 0
    return out


def test_a_removed_article_is_kept_and_marked_in_every_format(inputs, capsys):
    tmp_path, files = inputs
    out = build(tmp_path, files, "jsonl")
    records = {r["url"]: r for r in map(json.loads, out.read_text("utf-8").splitlines())}
    assert records[GONE]["removed_at"] == REMOVED_AT and records[GONE]["version"] == 2
    assert "removed_at" not in records[KEPT]
    assert "1 record marked removed_at" in capsys.readouterr().err
    text = build(tmp_path, files, "csv").read_text(encoding="utf-8")
    rows = {r["url"]: r for r in csv.DictReader(text.splitlines())}
    assert (rows[GONE]["removed_at"], rows[KEPT]["removed_at"]) == (REMOVED_AT, "")
    table = pq.read_table(build(tmp_path, files, "parquet")).to_pylist()
    removed = {r["url"]: r["removed_at"] for r in table}
    assert str(removed[GONE]) == "2025-11-20 10:00:00+00:00" and removed[KEPT] is None
    db = sqlite3.connect(build(tmp_path, files, "sqlite"))
    found = dict(db.execute("SELECT url, removed_at FROM articles"))
    db.close()
    assert found == {GONE: REMOVED_AT, KEPT: None}


def test_a_restored_article_is_no_longer_marked(inputs):
    tmp_path, files = inputs
    back = write(tmp_path / "run3.jsonl", [event("restored", "2025-11-21T10:00:00+00:00")])
    # The events' order is their detection time, not the order of the files.
    out = build(tmp_path, [back, *files], "jsonl")
    assert all("removed_at" not in json.loads(line) for line in out.read_text("utf-8").splitlines())


def test_the_explorer_shows_versions_their_changes_and_the_removal(inputs):
    tmp_path, files = inputs
    db = build(tmp_path, files, "sqlite", "--all-versions")
    server = Served(db)
    try:
        conn = sqlite3.connect(db)
        (article_id,) = conn.execute(
            "SELECT article_id FROM articles WHERE url = ?", (GONE,)
        ).fetchone()
        (other,) = conn.execute("SELECT article_id FROM articles WHERE url = ?", (KEPT,)).fetchone()
        conn.close()
        status, page = server.get(f"/out/articles/{article_id}")
        assert status == 200
        assert "Removed by RFI: recorded 2025-11-20 10:00 UTC" in page
        versions = page.split('class="rfi-versions"')[1].split("</section>")[0]
        assert versions.count('href="/out/article_versions/') == 2
        assert 'href="#diff-2"' in versions and 'id="diff-2"' in versions
        assert "(title, body)" in versions
        assert "<del>七十五</del><ins>八十二</ins>" in versions
        assert "<ins>（更新）</ins>" in versions
        assert "&lt;script&gt;" in versions and "<script>x" not in versions
        status, page = server.get(f"/out/articles/{other}")
        assert "Removed by RFI" not in page and 'href="#diff-' not in page
    finally:
        server.stop()
