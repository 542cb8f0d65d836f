"""An article's versions and what changed between them: coloured or marked-up text for a
terminal, a side-by-side HTML page, or JSON."""

from __future__ import annotations

import html
import json
from itertools import pairwise
from typing import Any

from rfi_crawler.dataset import plural
from rfi_crawler.dataset.edits import detected_at, web_url
from rfi_crawler.dataset.textdiff import Run, changed_fields, counts, field_text, runs

RED, GREEN, BOLD, RESET = "\x1b[31;9m", "\x1b[32m", "\x1b[1m", "\x1b[0m"


def version_diffs(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each pair of consecutive versions: the changed fields with their runs."""
    diffs = []
    for old, new in pairwise(versions):
        fields = {}
        for name in changed_fields(old, new):
            found = runs(_shown(old, name), _shown(new, name))
            fields[name] = {"runs": [run.as_json() for run in found], **counts(found)}
        diffs.append(
            {
                "from": old.get("version"),
                "to": new.get("version"),
                "extractor_changed": old.get("extractor_version") != new.get("extractor_version"),
                "fields": fields,
            }
        )
    return diffs


def _shown(record: dict[str, Any], name: str) -> str:
    """Text fields as text; structured fields (image, media, related…) as stable JSON."""
    text = field_text(record, name)
    if isinstance(record.get(name), (dict, list)) and name not in (
        "subheadings",
        "authors",
        "tags",
    ):
        text = json.dumps(record.get(name), ensure_ascii=False, sort_keys=True, indent=1)
    return text or ""


def as_json(versions: list[dict[str, Any]]) -> str:
    latest = versions[-1]
    document = {
        "url": latest.get("url"),
        "id": latest.get("id"),
        "versions": [_summary(record) for record in versions],
        "diffs": version_diffs(versions),
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": record.get("version"),
        "fetched_at": (record.get("crawl") or {}).get("fetched_at"),
        "detected_at": detected_at(record),
        "extractor_version": record.get("extractor_version"),
        "title": record.get("title"),
    }


def as_text(versions: list[dict[str, Any]], *, colour: bool) -> str:
    """Runs inline: coloured (struck red = removed, green = added) or, without colour,
    ``[-removed-]{+added+}`` as wdiff writes them."""
    latest = versions[-1]
    lines = [f"{latest.get('title')}", f"{latest.get('url')}  ({plural(len(versions), 'version')})"]
    for diff in version_diffs(versions):
        note = "  [extractor changed, not an RFI edit]" if diff["extractor_changed"] else ""
        lines.append("")
        lines.append(_bold(f"version {diff['from']} → {diff['to']}{note}", colour))
        if not diff["fields"]:
            lines.append("  (no field changed)")
        for name, change in diff["fields"].items():
            lines.append(_bold(f"  {name}: +{change['added']} −{change['removed']}", colour))
            text = "".join(_inline(Run(**run), colour) for run in change["runs"])
            lines += ["    " + line for line in text.splitlines() or [""]]
    return "\n".join(lines) + "\n"


def _inline(run: Run, colour: bool) -> str:
    if run.op == "equal":
        return run.old
    removed = (f"{RED}{run.old}{RESET}" if colour else f"[-{run.old}-]") if run.old else ""
    added = (f"{GREEN}{run.new}{RESET}" if colour else f"{{+{run.new}+}}") if run.new else ""
    return removed + added


def _bold(text: str, colour: bool) -> str:
    return f"{BOLD}{text}{RESET}" if colour else text


def as_html(versions: list[dict[str, Any]]) -> str:
    """A self-contained page: per version pair and field, old and new side by side."""
    latest = versions[-1]
    title = html.escape(str(latest.get("title") or latest.get("url")))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh"><head><meta charset="utf-8">',
        f"<title>{title} — versions</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>{_link(latest.get('url'))} · {plural(len(versions), 'version')}</p>",
    ]
    for diff in version_diffs(versions):
        note = " (extractor changed, not an RFI edit)" if diff["extractor_changed"] else ""
        parts.append(f"<h2>version {diff['from']} → {diff['to']}{html.escape(note)}</h2>")
        for name, change in diff["fields"].items():
            found = [Run(**run) for run in change["runs"]]
            old = "".join(_side(run, "old") for run in found)
            new = "".join(_side(run, "new") for run in found)
            parts.append(
                f"<h3>{html.escape(name)} <small>+{change['added']} −{change['removed']}"
                f'</small></h3><table><tr><td class="old">{old}</td>'
                f'<td class="new">{new}</td></tr></table>'
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _link(url: Any) -> str:
    """The record's URL, a link only when it is a web address (never ``javascript:``)."""
    text = html.escape(str(url))
    return f'<a href="{text}">{text}</a>' if web_url(url) else text


def _side(run: Run, side: str) -> str:
    text = html.escape(run.old if side == "old" else run.new)
    if run.op == "equal" or not text:
        return text
    return f"<del>{text}</del>" if side == "old" else f"<ins>{text}</ins>"


_CSS = (
    "body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
    "table{width:100%;table-layout:fixed;border-collapse:collapse}"
    "td{vertical-align:top;white-space:pre-wrap;overflow-wrap:anywhere;padding:.5em;"
    "border:1px solid #ccc;width:50%}"
    "del{background:#fdd;text-decoration:line-through}ins{background:#dfd;text-decoration:none}"
)
