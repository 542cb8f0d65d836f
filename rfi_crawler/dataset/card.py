"""DATASET.md: what a built dataset holds, where it came from, how to cite it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from rfi_crawler import __version__
from rfi_crawler.dataset.build import BuildReport
from rfi_crawler.run import manifest_path
from rfi_crawler.schema import SCHEMA_VERSION, record_schema


def dataset_card(report: BuildReport, output_name: str, command: str) -> str:
    schema = record_schema()["properties"]
    fields = "\n".join(
        f"| `{name}` | {_type(spec)} | {spec.get('description', '')} |"
        for name, spec in schema.items()
    )
    sections = "\n".join(f"| {name} | {count} |" for name, count in report.sections.most_common())
    types = "\n".join(f"| {name} | {count} |" for name, count in report.types.most_common())
    sources = "\n".join(_source(path) for path in report.read.files) or "- (none)"
    return f"""# RFI Chinese articles: {output_name}

Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by rfi-crawler {__version__} (`{command}`).

- **Records:** {report.written} ({report.archived} imported from archive files)
- **Published:** {report.first or "n/a"} to {report.last or "n/a"} (UTC)
- **Schema:** rfi-crawler record schema {SCHEMA_VERSION} (JSON Schema draft 2020-12, shipped
  in the package as `rfi_crawler/schema/record.schema.json`)
- **Input:** {report.read.records} records read, {report.read.truncated} truncated last lines
  skipped, {report.read.skipped_invalid} invalid lines skipped

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
    kind = spec.get("type") or ("string" if "$ref" in spec or "enum" in spec else "object")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _source(path: Path) -> str:
    manifest = manifest_path(path)
    if not manifest.exists():
        return f"- `{path}`"
    info = json.loads(manifest.read_text(encoding="utf-8"))
    return (
        f"- `{path}`: run {info.get('run_id')}, {info.get('started_at')} to "
        f"{info.get('finished_at')}, finish reason {info.get('finish_reason')}, "
        f"{info.get('records')} records, sha256 {info.get('sha256')}"
    )
