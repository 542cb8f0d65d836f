"""Files written whole or not at all: a temporary file beside the target, then renamed or linked.

The one mechanism behind every ``rfi-dataset`` output (``dataset.output.atomic_output``,
which adds what ``-o`` may name: a folder, a device, a symbolic link) and the archive
export's one file per record (``archive.write_archive``, which never replaces a file).
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from rfi_crawler.export.run_file import fsync_directory


class OutputError(ValueError):
    """An output that cannot be written where asked; the message says why."""


class _Target(io.FileIO):
    """The file written: a failed write (a full disk) is an ``OutputError`` naming the
    output as given, never the temporary file."""

    target: Path

    def write(self, data: object) -> int:  # type: ignore[override]
        try:
            # os.write is FileIO's own call, made where a test can fill the disk (os here).
            return os.write(self.fileno(), data)  # type: ignore[arg-type]
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot write it ({exc.strerror or exc})") from None


def opened(descriptor: int, target: Path) -> io.BufferedWriter:
    """``descriptor`` as a buffered file whose failed writes are ``OutputError``s naming
    ``target``."""
    raw = _Target(descriptor, "wb")
    raw.target = target
    return io.BufferedWriter(raw)


@contextmanager
def whole_file(
    target: Path, *, replace: bool = True, named: Path | None = None
) -> Iterator[IO[bytes]]:
    """A file to write ``target``'s content into, which becomes ``target`` only when the
    block ends without an exception; otherwise, or if the process dies, ``target`` is as
    it was, and the only trace a kill can leave is a hidden ``.NAME.*.tmp`` beside it.
    Anything that cannot be written is an ``OutputError`` naming ``named`` (``target``
    unless given), never the temporary file.

    ``replace``: the file is fsynced, renamed over ``target``, then the folder fsynced, so
    that the previous content is never lost to a crash. ``replace=False``: the file is
    linked to ``target``'s name, which never replaces anything there: an existing
    ``target`` holding the same bytes is left as it is, anything else there (another
    content, a symbolic link, a folder, a FIFO) is refused. Nothing is fsynced then:
    there was no previous content to lose, and the archive export that asks for it
    writes a file per record."""
    named = named or target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{_name_start(target.name)}.", suffix=".tmp"
        )
    except OSError as exc:
        raise OutputError(f"{named}: cannot write there ({exc.strerror})") from None
    handle = opened(descriptor, named)
    temporary = Path(name)
    try:
        os.chmod(name, 0o666 & ~current_umask())  # mkstemp's 0600: as open() makes it
        yield handle  # the block's own errors pass as they are
        try:
            handle.flush()
            if replace:
                os.fsync(handle.fileno())
            handle.close()
            if replace:
                os.replace(name, target)
            else:
                _link(temporary, target, named)
        except OSError as exc:
            raise OutputError(f"{named}: cannot write it ({exc.strerror or exc})") from None
    except BaseException:
        # Closed without a flush: on a full disk the flush would fail again, before the unlink.
        handle.raw.close()
        raise
    finally:
        temporary.unlink(missing_ok=True)  # what a failure left, or the link's other name
    if replace:
        fsync_directory(target.parent)


def _link(temporary: Path, target: Path, named: Path) -> None:
    """``temporary`` under ``target``'s name too, unless ``target`` is there already."""
    try:
        os.link(temporary, target)  # unlike rename, never replaces what is there
    except FileExistsError:
        # Only a regular file is read: a FIFO's read would wait for a writer, for ever.
        there = stat.S_ISREG(target.lstat().st_mode)
        if not there or target.read_bytes() != temporary.read_bytes():
            raise OutputError(f"{named}: exists and holds something else") from None


def current_umask() -> int:
    """The process's umask (reading it means setting it: set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# A file name holds 255 bytes at most (NAME_MAX): the temporary file's keeps this much of
# the target's, leaving room for its dots, mkstemp's 8 characters and ".tmp".
_NAME_KEPT = 200


def _name_start(name: str) -> str:
    """The start of ``name``, at most ``_NAME_KEPT`` bytes of it as the file system
    spells it (a character cut in two stays bytes: a hidden temporary name)."""
    return os.fsdecode(os.fsencode(name)[:_NAME_KEPT])
