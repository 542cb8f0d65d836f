"""The README: no repeated block, links that resolve, and an exit-status table that says
what the commands really return."""

from __future__ import annotations

import re
from collections import Counter

from rfi_crawler import schedule
from rfi_crawler.arguments import ARGUMENTS, SpiderArguments
from rfi_crawler.commands.crawl import EXIT_STATUS, USAGE_ERROR
from tests.crawling import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {
    path: path.read_text(encoding="utf-8")
    for path in [*(PROJECT_ROOT / "docs").glob("*.md"), PROJECT_ROOT / "SECURITY.md"]
}


def test_no_heading_or_block_is_repeated():
    headings = re.findall(r"^#+ .*$", README, re.MULTILINE)
    assert [h for h, n in Counter(headings).items() if n > 1] == []
    blocks = Counter(
        block.strip()
        for text in (README, *DOCS.values())
        for block in re.split(r"\n\s*\n", text)
        if len(block.strip()) > 120
    )
    assert [b[:80] for b, n in blocks.items() if n > 1] == []


def test_every_relative_link_resolves():
    for path, text in [(PROJECT_ROOT / "README.md", README), *DOCS.items()]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (path.parent / target).exists(), (path.name, target)


def exit_rows() -> dict[int, list[str]]:
    rows = re.findall(r"^\| (\d+) \| (.*) \|$", README, re.MULTILINE)
    return {int(code): [cell.strip() for cell in rest.split("|")] for code, rest in rows}


def test_the_exit_status_table_matches_the_code():
    rows = exit_rows()
    codes = {0, 1, USAGE_ERROR, *EXIT_STATUS.values()}
    codes |= {schedule.SCHEDULED, schedule.USAGE, schedule.OVERLAP, schedule.UNREACHABLE}
    codes |= {schedule.WINDOWS_FAILED}
    interrupted = 130  # rfi-dataset on Ctrl-C
    assert sorted(rows) == sorted(codes | {schedule.FAILED, schedule.STALE, interrupted})
    for reason, code in EXIT_STATUS.items():
        assert f"`{reason}`" in rows[code][0], (reason, code)
    assert "bad setting" in rows[USAGE_ERROR][0]
    scheduler = {
        schedule.SCHEDULED: "scheduled",
        schedule.FAILED: "unexpected error",
        schedule.USAGE: "usage error",
        schedule.OVERLAP: "not scheduled",
        schedule.UNREACHABLE: "Scrapyd unreachable",
        schedule.STALE: "no successful run within `--max-age`",
        schedule.WINDOWS_FAILED: "windows failed and were not scheduled again",
    }
    for code, words in scheduler.items():
        assert words in rows[code][2], (code, rows[code][2])
    assert len(set(scheduler)) == len(scheduler)


def spider_argument_rows() -> dict[str, str]:
    """``name`` → default cell of the spider-argument table: its rows up to the first
    line that is not one (a blank line ends a Markdown table)."""
    section = README.split("## Spider arguments", 1)[1]
    table = re.search(r"^\| argument \|.*\n\|---.*\n((?:\|.*\n)*)", section, re.MULTILINE)
    rows = {}
    for line in table.group(1).splitlines():
        names, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        for name in re.findall(r"`(\w+)`", names):
            rows[name] = default
    return rows


def test_every_spider_argument_has_a_row_with_its_default():
    rows = spider_argument_rows()
    assert set(rows) == set(ARGUMENTS)
    defaults = SpiderArguments()
    assert rows["related_depth"] == f"`{defaults.related_depth}`"
    assert rows["archive"] == f"`{int(defaults.archive)}`"
    assert rows["refresh"] == "`RFI_REFRESH`"  # None: the setting decides
    assert defaults.urls == () and defaults.window.unbounded
    assert rows["urls"] == rows["since"] == rows["until"] == "(none)"
