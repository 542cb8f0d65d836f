"""One run's JSON Lines file: appended, synced in batches, readable after any crash.

A line is durable once ``sync()`` returns (flushed, gzip stream sync-flushed, fsynced);
only then does the exporter tell the state store it was exported. After a crash the
file holds complete lines, then at most one truncated line, which readers skip.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

CHUNK = 1 << 16


class RunFileError(ValueError):
    """A line other than a truncated last one is not a JSON object."""


class RunFileWriter:
    def __init__(
        self, path: Path, *, compress: bool = False, sync_every: int = 25, sync_seconds: float = 5.0
    ) -> None:
        self.path = path
        self.sync_every, self.sync_seconds = sync_every, sync_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        self._raw: BinaryIO = open(path, "xb")  # never overwrite another run's file  # noqa: SIM115
        self._out: BinaryIO = (
            gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0) if compress else self._raw
        )
        self.lines = 0
        self.unsynced = 0
        self._last_sync = time.monotonic()
        _fsync_directory(path.parent)

    def write(self, record: dict[str, Any]) -> None:
        self._out.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        self.lines += 1
        self.unsynced += 1

    def sync_due(self) -> bool:
        return self.unsynced >= self.sync_every or (
            self.unsynced > 0 and time.monotonic() - self._last_sync >= self.sync_seconds
        )

    def sync(self) -> None:
        self._out.flush()  # GzipFile.flush is a Z_SYNC_FLUSH: the stream decodes up to here
        if self._out is not self._raw:
            self._raw.flush()
        os.fsync(self._raw.fileno())
        self.unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._out is not self._raw:
            self._out.close()  # writes the gzip trailer
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a run file, plain or gzip, skipping a truncated last line.

    Raises ``RunFileError`` naming the file and line for any other invalid line.
    """
    for number, line, complete in iter_lines(path):
        if not complete:
            logger.warning("%s: line %d is truncated (an interrupted write); skipped", path, number)
            return
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunFileError(f"{path}:{number}: not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise RunFileError(f"{path}:{number}: not a JSON object")
        yield number, record


def iter_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, complete?) of a plain or gzip JSON Lines file; only the last
    line can be incomplete (no newline, or a gzip stream that stops short)."""
    lines = _gzip_lines(path) if path.name.endswith(".gz") else _plain_lines(path)
    for number, (line, complete) in enumerate(lines, start=1):
        yield number, line, complete


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _plain_lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    with open(path, "rb") as handle:
        for line in handle:
            yield line, line.endswith(b"\n")


def _gzip_lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    """Lines of a gzip stream that may stop anywhere (no trailer after a crash)."""
    decoder = zlib.decompressobj(wbits=31)
    pending = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            try:
                pending += decoder.decompress(chunk)
            except zlib.error:
                break  # a torn block at the end: what came before is intact
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line + b"\n", True
            if decoder.eof:
                break
    if pending:
        yield pending, False


def _fsync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable too."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
