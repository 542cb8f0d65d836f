"""Records from any number of run files (``.jsonl``, ``.jsonl.gz``, folders of them)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rfi_crawler.dataset.shape import type_error
from rfi_crawler.export.run_file import MAX_LINE, DamagedFileError, Line, decode_record, iter_lines

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
    too_long: int = 0
    damaged: int = 0  # files whose gzip stream is corrupt (read up to the damage)


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
    max_line: int = MAX_LINE,
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """(file, line number, record) of every line. Skipped with a warning and counted: a
    truncated last line, a line longer than ``max_line`` bytes. Anything else that is not a
    record (not JSON, a field of the wrong type, a damaged gzip stream) raises
    ``InputError`` naming file and line (or byte), or is skipped and counted with
    ``skip_invalid``."""
    for path in files:
        try:
            yield from _read_file(path, report, skip_invalid, max_line)
        except DamagedFileError as exc:
            if not skip_invalid:
                raise InputError(f"{exc}; the lines before it were read") from exc
            report.damaged += 1
            logger.warning("%s; the rest of the file skipped", exc)


def _read_file(
    path: Path, report: ReadReport, skip_invalid: bool, max_line: int
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    for number, line, kind in iter_lines(path, max_line):
        if kind is Line.TRUNCATED:
            report.truncated += 1
            logger.warning(
                "%s:%d: truncated last line skipped (an interrupted write)", path, number
            )
            continue
        if kind is Line.TOO_LONG:
            report.too_long += 1
            logger.warning(
                "%s:%d: line longer than %d bytes skipped (see --max-line-bytes)",
                path,
                number,
                max_line,
            )
            continue
        try:
            record = decode_record(line)
            if error := type_error(record):
                raise ValueError(error)
        except ValueError as exc:
            if not skip_invalid:
                raise InputError(f"{path}:{number}: invalid record: {exc}") from exc
            report.skipped_invalid += 1
            logger.warning("%s:%d: invalid record skipped: %s", path, number, exc)
            continue
        report.records += 1
        yield path, number, record
