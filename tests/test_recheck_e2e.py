"""End to end over "time": the replica edits and removes articles between runs; the
re-check schedule (on a fake clock, RFI_RECHECK_NOW) finds every change once, a removal
only after its second failed check, and the restoration; ``rfi-dataset edits`` lists them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from rfi_crawler.dataset.cli import main as dataset_main
from rfi_crawler.export.run_file import iter_records
from rfi_crawler.schema import event_errors, validation_errors
from tests.crawling import crawl_items, run_files
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite, canonical

pytestmark = pytest.mark.inprocess  # crawls in this process: tests/conftest.py
TEXT = ("title", "kicker", "lead", "body")
CORRECTION = "更正：本文较早版本误称会谈在周二举行。"
REWRITTEN = "这一段已被完全改写。"


def today() -> date:
    return datetime.now(UTC).date()


def new_lines(data: Path, before: set[Path]) -> list[dict]:
    """Every line of the run files a run added."""
    return [
        line for path in run_files(data) if path not in before for _, line in iter_records(path)
    ]


def crawl(server, tmp_path: Path, data: Path, name: str, now: datetime) -> list[dict]:
    """The run's new run-file lines; its manifest goes to ``tmp_path/<name>.manifest``."""
    before = set(run_files(data))
    manifests = set((data / "output").glob("*.manifest.json"))
    result = crawl_items(
        server.base_url,
        tmp_path / name,
        data_dir=data,
        settings={"RFI_RECHECK_NOW": now.isoformat()},
    )
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log, result.log[-3000:]
    (manifest,) = set((data / "output").glob("*.manifest.json")) - manifests
    (tmp_path / f"{name}.manifest").write_bytes(manifest.read_bytes())
    return new_lines(data, before)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Five runs over a month of fake time; the run files' lines of each, and the site."""
    tmp_path = tmp_path_factory.mktemp("recheck")
    site = ReplicaSite(articles=40, seed=16, today=today())
    expected = {canonical(path) for path in site.expected_depths()}
    plain = [
        a
        for a in site.homepage_items()
        if a.url in expected
        and a.index != site.disallowed
        and a.audio is None
        and a.video is None
        and sum(tag == "p" for tag, _ in a.blocks) >= 3
    ]
    headline, paragraph, corrected, figure, removed = plain[:5]
    site.revise(figure, paragraph=(0, "据官方统计，死亡人数为七十五人，另有数十人受伤。"))
    # Every article is younger than its last slot when first seen: all are re-checkable.
    start = max(a.published for a in site.articles) + timedelta(minutes=30)
    data = tmp_path / "data"
    runs: dict[str, list[dict]] = {}
    with ReplicaServer(site) as server:
        runs["first"] = crawl(server, tmp_path, data, "first", start)
        old_body = {r["url"]: r["body"] for r in runs["first"]}
        site.revise(headline, title=headline.title + "（更新）")
        site.revise(paragraph, paragraph=(1, REWRITTEN))
        site.revise(corrected, append=CORRECTION)
        site.revise(figure, replace=("七十五", "八十二"))
        site.remove(removed, 410)
        month = start + timedelta(days=31)  # every slot has passed: all are due
        runs["month"] = crawl(server, tmp_path, data, "month", month)
        runs["confirm"] = crawl(server, tmp_path, data, "confirm", month + timedelta(hours=1))
        site.restore(removed)
        runs["back"] = crawl(server, tmp_path, data, "back", month + timedelta(hours=2))
        runs["quiet"] = crawl(server, tmp_path, data, "quiet", month + timedelta(hours=3))
    articles = {
        "headline": headline,
        "paragraph": paragraph,
        "corrected": corrected,
        "figure": figure,
        "removed": removed,
    }
    return runs, articles, old_body, data, month


def outcomes(data: Path, name: str) -> dict:
    return json.loads((data.parent / f"{name}.manifest").read_text("utf-8"))["outcomes"]


def test_the_manifests_count_the_rechecks_and_the_events(history):
    _, _, _, data, _ = history
    first = outcomes(data, "first")
    assert (first["recheck/due"], first["recheck/planned"]) == (0, 0)
    month = outcomes(data, "month")
    assert month["recheck/planned"] == month["recheck/due"] > 5
    assert month["recheck/pending"] == 1 and "events/removed" not in month
    confirm = outcomes(data, "confirm")
    assert (confirm["recheck/planned"], confirm["recheck/removed"], confirm["events/removed"]) == (
        1,
        1,
        1,
    )
    assert outcomes(data, "back")["events/restored"] == 1
    quiet = outcomes(data, "quiet")
    assert "events/restored" not in quiet and quiet["recheck/planned"] == 0


def test_every_edit_is_one_new_version_with_its_changed_fields(history):
    runs, articles, _, _, month = history
    records = [line for line in runs["month"] if "event" not in line]
    assert {r["url"]: r["version"] for r in records} == {
        articles[name].url: 2 for name in ("headline", "paragraph", "corrected", "figure")
    }
    by_url = {r["url"]: r for r in records}
    for name, field in [
        ("headline", "title"),
        ("paragraph", "body"),
        ("corrected", "body"),
        ("figure", "body"),
    ]:
        record = by_url[articles[name].url]
        assert [f for f in record["changed_fields"] if f in TEXT] == [field], name
        assert record["change_cause"] == "rfi"
        assert record["detected_at"] == month.isoformat()
        assert validation_errors(record) == []
    assert [line for line in runs["month"] if "event" in line] == []  # one 410: no removal yet


def test_a_removal_is_recorded_after_its_second_failed_check_and_a_restoration_once(history):
    runs, articles, _, _, month = history
    (removal,) = runs["confirm"]
    assert removal["event"] == "removed"
    assert removal["url"] == articles["removed"].url
    assert removal["evidence"] == "http_410"
    assert removal["first_failed_at"] == month.isoformat()
    assert removal["detected_at"] == (month + timedelta(hours=1)).isoformat()
    assert event_errors(removal) == []
    (restoration,) = runs["back"]
    assert (restoration["event"], restoration["url"]) == ("restored", articles["removed"].url)
    assert event_errors(restoration) == []
    assert runs["quiet"] == []


def test_rfi_dataset_edits_lists_exactly_the_edits_the_removal_and_the_restoration(
    history, tmp_path, capsys
):
    runs, articles, old_body, data, month = history
    out = tmp_path / "edits.jsonl"
    assert dataset_main(["edits", str(data / "output"), "-o", str(out)]) == 0
    found = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    kinds = sorted((event["kind"], event["url"]) for event in found)
    assert kinds == sorted(
        [
            *(
                ("edited", articles[n].url)
                for n in ("headline", "paragraph", "corrected", "figure")
            ),
            ("removed", articles["removed"].url),
            ("restored", articles["removed"].url),
        ]
    )
    edits = {event["url"]: event for event in found if event["kind"] == "edited"}
    headline = edits[articles["headline"].url]
    assert headline["chars"]["title"] == {"added": 4, "removed": 0}
    assert "body" not in headline["fields"]
    figure = edits[articles["figure"].url]
    assert figure["chars"]["body"] == {"added": 3, "removed": 3}
    paragraph = edits[articles["paragraph"].url]
    new_body = next(r["body"] for r in runs["month"] if r.get("url") == articles["paragraph"].url)
    (gone,) = set(old_body[articles["paragraph"].url].split("\n")) - set(new_body.split("\n"))
    # Paragraphs are separated by a blank line ("\n\n"): a paragraph replaced in the middle
    # counts one of its line breaks, one appended at the end both.
    assert paragraph["chars"]["body"] == {"added": len(REWRITTEN) + 1, "removed": len(gone) + 1}
    corrected = edits[articles["corrected"].url]
    assert corrected["chars"]["body"] == {"added": len(CORRECTION) + 2, "removed": 0}
    for event in edits.values():
        assert event["detected_at"] == (month.isoformat())


def test_the_atom_feed_of_the_crawled_events_is_valid(history, tmp_path):
    _, articles, _, data, _ = history
    out = tmp_path / "edits.atom"
    assert dataset_main(["edits", str(data / "output"), "--format", "atom", "-o", str(out)]) == 0
    parsed = feedparser.parse(out.read_bytes())
    assert parsed.version == "atom10" and not parsed.bozo
    titles = sorted(entry.title.split(":", 1)[0] for entry in parsed.entries)
    assert titles == ["edited"] * 4 + ["removed", "restored"]
    assert {entry.link for entry in parsed.entries} >= {articles["removed"].url}
