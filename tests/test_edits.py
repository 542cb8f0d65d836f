"""rfi-dataset edits and diff: change events between versions, Atom, character diffs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest

from rfi_crawler.dataset.cli import main
from rfi_crawler.dataset.textdiff import counts, runs

URL = "https://www.rfi.fr/cn/中国/20250101-测试"
BODY = "第一段文字。\n\n死亡人数为七十五人，其中多数为老人。\n\n第三段没有变化。"


def version(number: int, fetched: str, **fields: Any) -> dict[str, Any]:
    record = {
        "id": "A1",
        "url": URL,
        "title": "原来的标题",
        "lead": "导语",
        "body": BODY,
        "authors": ["记者甲"],
        "published_at": "2025-01-01T08:00:00+00:00",
        "extractor_version": 2,
        "version": number,
        "crawl": {"fetched_at": fetched, "via": "homepage", "referer": None, "depth": 0},
    }
    record.update(fields)
    return record


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


def run_edits(tmp_path: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> list[dict]:
    out = tmp_path / "edits.jsonl"
    assert main(["edits", *map(str, inputs), "-o", str(out), *extra]) == 0
    return [json.loads(line) for line in out.read_text("utf-8").splitlines()]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("七十五", "八十二", [("replace", "七十五", "八十二")]),
        (
            "人数为七十五人",
            "人数为八十二人",
            [("equal", "人数为", "人数为"), ("replace", "七十五", "八十二"), ("equal", "人", "人")],
        ),
        ("甲。", "甲。\n\n更正。", [("equal", "甲。", "甲。"), ("insert", "", "\n\n更正。")]),
        ("甲乙丙", "", [("delete", "甲乙丙", "")]),
        ("同样", "同样", [("equal", "同样", "同样")]),
    ],
)
def test_runs_group_changes_into_readable_pieces(old, new, expected):
    found = runs(old, new)
    assert [(r.op, r.old, r.new) for r in found] == expected
    assert "".join(r.old for r in found) == old
    assert "".join(r.new for r in found) == new


def test_a_long_body_with_one_changed_sentence_compares_only_that_paragraph():
    paragraphs = [f"第{n}段，内容不变。" for n in range(2000)]
    old = "\n\n".join(paragraphs)
    paragraphs[1000] = "第1000段，内容已更新。"
    found = runs(old, "\n\n".join(paragraphs))
    assert counts(found) == {"added": 3, "removed": 2}
    assert [r.op for r in found] == ["equal", "replace", "equal"]


def test_every_kind_of_edit_is_one_event_with_its_fields_and_character_counts(tmp_path):
    lines = [
        version(1, "2025-01-01T09:00:00+00:00"),
        # A headline changed.
        version(2, "2025-01-01T10:00:00+00:00", title="修改后的标题"),
        # A figure changed inside a sentence.
        version(
            3,
            "2025-01-02T10:00:00+00:00",
            title="修改后的标题",
            body=BODY.replace("七十五", "八十二"),
        ),
        # A correction appended.
        version(
            4,
            "2025-01-03T10:00:00+00:00",
            title="修改后的标题",
            body=BODY.replace("七十五", "八十二") + "\n\n更正：本文数字已更新。",
        ),
    ]
    events = run_edits(tmp_path, write_lines(tmp_path / "run.jsonl", lines))
    assert [(e["kind"], e["version"], e["fields"]) for e in events] == [
        ("edited", 2, ["title"]),
        ("edited", 3, ["body"]),
        ("edited", 4, ["body"]),
    ]
    assert events[0]["chars"] == {"title": {"added": 3, "removed": 2}}
    assert events[1]["chars"] == {"body": {"added": 3, "removed": 3}}
    assert events[2]["chars"] == {
        "body": {"added": len("\n\n更正：本文数字已更新。"), "removed": 0}
    }
    assert [e["detected_at"] for e in events] == [
        "2025-01-01T10:00:00+00:00",
        "2025-01-02T10:00:00+00:00",
        "2025-01-03T10:00:00+00:00",
    ]
    assert {e["published_at"] for e in events} == {"2025-01-01T08:00:00+00:00"}


def test_a_replaced_paragraph_counts_its_characters(tmp_path):
    replaced = BODY.replace("第三段没有变化。", "法国总统周二宣布新措施。")
    partly = BODY.replace("第三段没有变化。", "全新的第三段。")
    lines = [
        version(1, "2025-01-01T09:00:00+00:00"),
        version(2, "2025-01-02T09:00:00+00:00", body=replaced),
        version(3, "2025-01-03T09:00:00+00:00", body=partly),
    ]
    first, second = run_edits(tmp_path, write_lines(tmp_path / "run.jsonl", lines))
    assert first["fields"] == second["fields"] == ["body"]
    # A rewritten paragraph: all of it out, all of the new one in.
    assert first["chars"]["body"] == {"added": 12, "removed": 8}
    # "法国总统周二宣布新措施。" → "全新的第三段。" shares only "新" and "。": rewritten too.
    assert second["chars"]["body"] == {"added": 7, "removed": 12}


def test_a_partly_changed_paragraph_counts_only_the_changed_characters():
    # "第三段没有变化。" → "全新的第三段。": 全新的 added, 没有变化 removed.
    assert counts(runs(BODY, BODY.replace("第三段没有变化。", "全新的第三段。"))) == {
        "added": 3,
        "removed": 4,
    }


def test_our_extractor_changing_is_never_an_edit(tmp_path):
    lines = [
        version(1, "2025-01-01T09:00:00+00:00"),
        version(
            2, "2025-01-02T09:00:00+00:00", body=BODY + "\n\n多出来的一段", extractor_version=3
        ),
        version(
            3, "2025-01-03T09:00:00+00:00", body=BODY + "\n\n多出来的一段", extractor_version=3
        ),
    ]
    assert run_edits(tmp_path, write_lines(tmp_path / "run.jsonl", lines)) == []


def test_versions_spread_over_run_files_and_given_twice_give_each_edit_once(tmp_path):
    first = write_lines(tmp_path / "a.jsonl", [version(1, "2025-01-01T09:00:00+00:00")])
    second = write_lines(
        tmp_path / "b.jsonl", [version(2, "2025-01-05T09:00:00+00:00", lead="新导语")]
    )
    events = run_edits(tmp_path, second, first, second)
    assert [(e["version"], e["fields"]) for e in events] == [(2, ["lead"])]


def test_removals_and_restorations_are_events_and_since_until_filter_them(tmp_path):
    lines = [
        version(1, "2025-01-01T09:00:00+00:00"),
        {
            "event": "removed",
            "url": URL,
            "id": "A1",
            "detected_at": "2025-02-01T09:00:00+00:00",
            "evidence": "http_404",
        },
        {"event": "restored", "url": URL, "id": "A1", "detected_at": "2025-03-01T09:00:00+00:00"},
    ]
    path = write_lines(tmp_path / "run.jsonl", lines)
    assert [e["kind"] for e in run_edits(tmp_path, path)] == ["removed", "restored"]
    assert [e["kind"] for e in run_edits(tmp_path, path, extra=("--since", "2025-02-15"))] == [
        "restored"
    ]


def test_the_atom_feed_is_valid_atom_1_0(tmp_path):
    lines = [
        version(1, "2025-01-01T09:00:00+00:00"),
        version(2, "2025-01-02T09:00:00+00:00", title="<script>alert(1)</script> 新标题"),
        {"event": "removed", "url": URL, "id": "A1", "detected_at": "2025-02-01T09:00:00+00:00"},
    ]
    path = write_lines(tmp_path / "run.jsonl", lines)
    out = tmp_path / "edits.atom"
    assert main(["edits", str(path), "--format", "atom", "-o", str(out)]) == 0
    parsed = feedparser.parse(out.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.title.split(":")[0] for e in parsed.entries] == ["removed", "edited"]
    assert parsed.entries[1].title == "edited: <script>alert(1)</script> 新标题"
    assert parsed.entries[1].link == URL
    # RFC 4287: a feed and each entry have exactly one id, title and updated.
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ElementTree.fromstring(out.read_bytes())
    for element in [root, *root.findall("a:entry", ns)]:
        for name in ("id", "title", "updated"):
            assert len(element.findall(f"a:{name}", ns)) == 1
    assert root.find("a:author/a:name", ns).text
    # Same events → same bytes.
    again = tmp_path / "again.atom"
    assert main(["edits", str(path), "--format", "atom", "-o", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_diff_shows_versions_as_text_html_and_json(tmp_path, capsys):
    lines = [
        version(1, "2025-01-01T09:00:00+00:00"),
        version(
            2, "2025-01-02T09:00:00+00:00", body=BODY.replace("七十五", "八十二"), title="<b>新</b>"
        ),
    ]
    path = write_lines(tmp_path / "run.jsonl", lines)
    assert main(["diff", "A1", str(path), "--color", "never"]) == 0
    text = capsys.readouterr().out
    assert "version 1 → 2" in text
    assert "死亡人数为[-七十五-]{+八十二+}人" in text
    assert main(["diff", URL, str(path), "--color", "always"]) == 0
    assert "\x1b[32m八十二\x1b[0m" in capsys.readouterr().out

    page = tmp_path / "diff.html"
    assert main(["diff", "A1", str(path), "--format", "html", "-o", str(page)]) == 0
    markup = page.read_text("utf-8")
    assert "<del>七十五</del>" in markup and "<ins>八十二</ins>" in markup
    assert "<b>新</b>" not in markup and "&lt;b&gt;新&lt;/b&gt;" in markup

    assert main(["diff", "A1", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in document["versions"]] == [1, 2]
    (diff,) = document["diffs"]
    assert set(diff["fields"]) == {"title", "body"}
    assert diff["fields"]["body"]["added"] == 3 and diff["fields"]["body"]["removed"] == 3


def test_diff_of_an_unknown_article_is_one_line_and_exit_1(tmp_path, capsys):
    path = write_lines(tmp_path / "run.jsonl", [version(1, "2025-01-01T09:00:00+00:00")])
    assert main(["diff", "nope", str(path)]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
