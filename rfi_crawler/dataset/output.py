"""``rfi-dataset``'s outputs, written whole or not at all (``whole_file``), and what ``-o``
may name besides a new or regular file: a folder, a device or a FIFO, a symbolic link."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from rfi_crawler.whole_file import OutputError, opened, whole_file


def check_output(path: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output that is one of the inputs (it would be replaced while being read)."""
    if path.exists():
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; give a file name with -o")
        for source in inputs:
            if source.exists() and os.path.samefile(source, path):
                raise OutputError(f"{path}: the output is one of the inputs; choose another name")


def link_target(path: Path) -> Path:
    """The file ``path`` names: where a symbolic link points (the file it points to is
    replaced, the link kept), or ``path``; a loop of links is an ``OutputError``."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # "Symlink loop" (RuntimeError before Python 3.13)
        raise OutputError(f"{path}: cannot write it (a loop of symbolic links)") from None


@contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A file to write ``path``'s new content into. Only when the block ends without an
    exception does it replace ``path`` (fsynced, then renamed, then the folder fsynced);
    otherwise, or if the process dies, ``path`` keeps its previous content. The hidden
    ``.NAME.*.tmp`` file a kill leaves behind is never read as an input. A target that
    cannot be written is an ``OutputError`` naming it (never the temporary file's name).
    A symbolic link is followed (the file it points to is replaced, the link kept); a
    target that is not a regular file (``/dev/null``, a FIFO) is written directly."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name with -o")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        with _direct(path) as handle:
            yield handle
        return
    with whole_file(link_target(path), named=path) as handle:
        yield handle


@contextmanager
def _direct(path: Path) -> Iterator[IO[bytes]]:
    """``path`` itself, opened for writing: renaming a file over a device or a FIFO would
    replace it with a regular file."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write it ({exc.strerror})") from None
    handle = opened(descriptor, path)
    try:
        yield handle
        handle.flush()
    finally:
        with suppress(OutputError):  # the block's own error, or the flush's, is raised
            handle.close()


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_output(path) as handle:
        handle.write(text.encode("utf-8"))
