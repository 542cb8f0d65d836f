"""DATASET.md: what a built dataset holds, where it came from, how to cite it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from rfi_crawler import __version__
from rfi_crawler.dataset.build import BuildReport
from rfi_crawler.export.run_file import read_manifest
from rfi_crawler.schema import SCHEMA_VERSION, record_schema

CARD_SUFFIX = ".DATASET.md"
logger = logging.getLogger(__name__)


def card_path(output: Path) -> Path:
    """The card of ``rfi.jsonl`` is ``rfi.jsonl.DATASET.md`` beside it: one card per output,
    so a JSONL and a CSV build into one folder keep theirs."""
    return output.with_name(output.name + CARD_SUFFIX)


def dataset_card(report: BuildReport, output_name: str, command: str) -> str:
    schema = record_schema()["properties"]
    fields = "\n".join(
        f"| `{name}` | {_type(spec)} | {spec.get('description', '')} |"
        for name, spec in schema.items()
    )
    sections = "\n".join(f"| {name} | {count} |" for name, count in report.sections.most_common())
    types = "\n".join(f"| {name} | {count} |" for name, count in report.types.most_common())
    read = report.read
    origins = ", ".join(f"{o} ({n} records)" for o, n in report.origins.most_common()) or "n/a"
    sources = "\n".join(_source(path) for path in report.read.files) or "- (none)"
    return f"""# RFI Chinese articles: {output_name}

Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by rfi-crawler {__version__} (`{command}`).

- **Records:** {report.written} ({report.archived} imported from archive files)
- **Published:** {report.first or "n/a"} to {report.last or "n/a"} (UTC)
- **Schema:** rfi-crawler record schema {SCHEMA_VERSION} (JSON Schema draft 2020-12, shipped
  in the package as `rfi_crawler/schema/record.schema.json`)
- **Origin:** {origins}
- **Input:** {read.records} records read; skipped: {read.truncated} truncated last lines,
  {read.too_long} over-long lines, {read.skipped_invalid} invalid lines, {read.damaged} damaged
  gzip files (read up to the damage)

## Records by section

| section | records |
|---|---|
{sections}

## Records by type

| type | records |
|---|---|
{types}

## Fields

| field | type | meaning |
|---|---|---|
{fields}

## Sources

{sources}

## How to cite

Radio France Internationale (RFI), Chinese service, https://www.rfi.fr/cn/ — articles
published {(report.first or "")[:10]} to {(report.last or "")[:10]}, collected with rfi-crawler
{__version__}. Cite the articles by their `url` and `published_at`.

## Rights

The texts, titles and images are the copyright of RFI / France Médias Monde. This dataset is
for research use (text and data mining); do not republish the articles.
"""


def _type(spec: dict) -> str:
    """The JSON type(s) of a schema property, as written in the record: ``string (time)``
    for the UTC times, ``or null`` when it may be null."""
    if "$ref" in spec:
        return "string (time)" if spec["$ref"].endswith("/utc_time") else "string"
    for union in ("anyOf", "oneOf"):
        if union in spec:
            return " or ".join(_type(branch) for branch in spec[union])
    if "enum" in spec:
        return "string"
    kind = spec.get("type", "object")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _source(path: Path) -> str:
    try:
        info = read_manifest(path)
    except ValueError as exc:  # named, not dropped: the provenance says it is missing
        logger.warning("%s; the card lists %s without it", exc, path.name)
        return f"- `{path}`: {exc}"
    if info is None:
        return f"- `{path}`"
    return (
        f"- `{path}`: run {info.get('run_id')}, {info.get('started_at')} to "
        f"{info.get('finished_at')}, finish reason {info.get('finish_reason')}, "
        f"{info.get('records')} records, sha256 {info.get('sha256')}"
    )
