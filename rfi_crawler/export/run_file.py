"""JSON Lines files, plain or gzip: the one writer and the one reader of records.

The crawl appends to its run file with ``RunFileWriter``: a line is durable once ``sync()``
returns (flushed, gzip stream sync-flushed, fsynced); only then does the exporter tell the
state store it was exported. After a crash the file holds complete lines, then at most one
truncated line, which readers skip. ``rfi-dataset`` reads and writes through the same
``iter_lines`` / ``decode_record`` / ``encode_record``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import re
import time
import zlib
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

CHUNK = 1 << 16
#: Longest line read whole (bytes, newline excluded); longer ones are skipped unread.
MAX_LINE = 16 << 20
#: Deepest nesting of arrays and objects in a record (records nest a few levels): deeper data
#: would reach an encoder's recursion limit later, on output.
MAX_DEPTH = 64
#: A \\u escape of a UTF-16 surrogate: json.loads makes a lone one a str UTF-8 cannot encode.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class RunFileError(ValueError):
    """A line other than a truncated last one is not a JSON object; names file and line."""


class DamagedFileError(RunFileError):
    """A gzip stream is corrupt; the lines before the damage were read."""


class Line(Enum):
    COMPLETE = "complete"
    TRUNCATED = "truncated"  # the last line, with no newline: an interrupted write
    TOO_LONG = "too_long"  # longer than the limit: skipped without being held whole


def encode_record(record: dict[str, Any]) -> bytes:
    """One record as one line: UTF-8, Chinese not escaped."""
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def decode_record(line: bytes) -> dict[str, Any]:
    """The JSON object of one line; ``ValueError`` says why it is not one. Refused too, as
    no writer could write them back: NaN and infinite numbers, nesting deeper than
    MAX_DEPTH, a lone surrogate (json.loads of bytes would let raw ones in: strict UTF-8)."""
    try:
        record = _DECODER.decode(line.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    # Each check runs only when the line could fail it: the common line costs two counts.
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and _deeper(record, MAX_DEPTH):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(line):
        try:
            encode_record(record)
        except UnicodeEncodeError as exc:
            char = exc.object[exc.start]
            raise ValueError(f"not text: a lone surrogate {char!a}") from None
    return record


def _no_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def _deeper(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        inner = item.values() if isinstance(item, dict) else item
        stack += [(child, depth + 1) for child in inner if isinstance(child, dict | list)]
    return False


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
        self.unsynced = 0
        self._last_sync = time.monotonic()
        fsync_directory(path.parent)

    def write(self, record: dict[str, Any]) -> None:
        self._out.write(encode_record(record))
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

    Raises ``RunFileError`` naming the file and line for any other invalid line, and
    ``DamagedFileError`` (after the lines before it) for a corrupt gzip stream.
    """
    for number, line, kind in iter_lines(path):
        if kind is Line.TRUNCATED:
            logger.warning("%s: line %d is truncated (an interrupted write); skipped", path, number)
            return
        if kind is Line.TOO_LONG:
            raise RunFileError(f"{path}:{number}: line longer than {MAX_LINE} bytes")
        try:
            yield number, decode_record(line)
        except ValueError as exc:
            raise RunFileError(f"{path}:{number}: {exc}") from exc


def iter_lines(path: Path, max_line: int = MAX_LINE) -> Iterator[tuple[int, bytes, Line]]:
    """(line number, bytes, kind) of a plain or gzip JSON Lines file, every gzip member in
    turn. Only the last line can be ``TRUNCATED``; a ``TOO_LONG`` line comes with no bytes.
    Memory stays below ``max_line`` plus a chunk whatever the file holds."""
    with open(path, "rb") as handle:
        pieces = _gzip_pieces(path, handle) if path.name.endswith(".gz") else _plain(handle)
        for number, (line, kind) in enumerate(_split(pieces, max_line), start=1):
            yield number, line, kind


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path(run_file: Path) -> Path:
    """``rfi_cn-<run>.jsonl[.gz]`` → ``rfi_cn-<run>.manifest.json``."""
    return run_file.with_name(run_file.name.split(".jsonl")[0] + ".manifest.json")


def read_manifest(run_file: Path) -> dict[str, Any] | None:
    """The manifest beside ``run_file``, or None when it has none; ``ValueError`` naming it
    when it cannot be read or is not a JSON object (damaged, or not ours)."""
    path = manifest_path(run_file)
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_LINE:
            raise ValueError(f"larger than {MAX_LINE} bytes")
        info = decode_record(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: manifest unreadable ({exc.strerror})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: damaged manifest ({exc})") from None
    return info


def _plain(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def _gzip_pieces(path: Path, handle: BinaryIO) -> Iterator[bytes]:
    """Decompressed data of every member, in pieces of at most CHUNK bytes (a bomb stays
    small). A stream that just stops (a crash before the trailer) ends quietly; corrupt
    data or a bad checksum raises ``DamagedFileError`` with its byte offset."""
    decoder = zlib.decompressobj(wbits=31)
    offset = 0  # compressed bytes consumed before ``data``
    data = b""
    while True:
        if not data and not (data := handle.read(CHUNK)):
            return
        before = decoder.copy()
        try:
            out = decoder.decompress(data, CHUNK)
        except zlib.error as exc:
            # Again byte by byte from before this call: what decodes before the damage is kept.
            yield from _up_to_damage(before, data, offset, path)
            raise DamagedFileError(f"{path}: damaged gzip data near byte {offset}: {exc}") from exc
        if out:
            yield out
        if decoder.eof:  # a member ended; another may follow (concatenated gzip files)
            rest = decoder.unused_data
            offset += len(data) - len(rest)
            data = rest or handle.read(CHUNK)
            if data and not data.startswith(b"\x1f\x8b"[: len(data)]):
                raise DamagedFileError(f"{path}: data that is not gzip at byte {offset}")
            decoder = zlib.decompressobj(wbits=31)
        else:
            rest = decoder.unconsumed_tail
            offset += len(data) - len(rest)
            data = rest


def _up_to_damage(decoder: Any, data: bytes, offset: int, path: Path) -> Iterator[bytes]:
    """The data ``decoder`` yields from ``data`` before it fails; then ``DamagedFileError``
    with the offset of the byte where the damage was found."""
    for index in range(len(data)):
        try:
            out = decoder.decompress(data[index : index + 1])
        except zlib.error as exc:
            raise DamagedFileError(
                f"{path}: damaged gzip data found at byte {offset + index}: {exc}"
            ) from exc
        if out:
            yield out


def _split(pieces: Iterator[bytes], max_line: int) -> Iterator[tuple[bytes, Line]]:
    pending = bytearray()
    skipping = False  # inside a line already known to be too long: drop until its newline
    for piece in pieces:
        start = 0
        while (end := piece.find(b"\n", start)) >= 0:
            if skipping or len(pending) + end - start > max_line:
                yield b"", Line.TOO_LONG
            elif pending:
                pending += piece[start : end + 1]
                yield bytes(pending), Line.COMPLETE
            else:
                yield piece[start : end + 1], Line.COMPLETE
            pending.clear()
            skipping = False
            start = end + 1
        if not skipping:
            pending += piece[start:]
            if len(pending) > max_line:
                skipping = True
                pending.clear()
    if skipping:
        yield b"", Line.TOO_LONG
    elif pending:
        yield bytes(pending), Line.TRUNCATED


def fsync_directory(directory: Path) -> None:
    """Make a new or renamed file's directory entry durable too."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
