"""Records from any number of run files (``.jsonl``, ``.jsonl.gz``, folders of them)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rfi_crawler.export.run_file import iter_lines

logger = logging.getLogger(__name__)
SUFFIXES = (".jsonl", ".jsonl.gz", ".jl")


class InputError(ValueError):
    """An input line that is not a record; the message names the file and line."""


@dataclass
class ReadReport:
    files: list[Path]
    records: int = 0
    truncated: int = 0
    skipped_invalid: int = 0


def input_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the run files inside the folders given, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.name.endswith(SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found


def read_records(
    files: list[Path],
    report: ReadReport,
    skip_invalid: bool = False,
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """(file, line number, record) of every line; a truncated last line is skipped with a
    warning, any other bad line raises ``InputError`` unless ``skip_invalid``."""
    for path in files:
        for number, line, complete in iter_lines(path):
            if not complete:
                report.truncated += 1
                logger.warning(
                    "%s:%d: truncated last line skipped (an interrupted write)", path, number
                )
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("url"), str):
                    raise ValueError("not a record object with a url")
            except ValueError as exc:
                if not skip_invalid:
                    raise InputError(f"{path}:{number}: invalid record: {exc}") from exc
                report.skipped_invalid += 1
                logger.warning("%s:%d: invalid record skipped: %s", path, number, exc)
                continue
            report.records += 1
            yield path, number, record
