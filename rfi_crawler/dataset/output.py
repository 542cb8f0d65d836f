"""Outputs written whole or not at all: a temporary file beside the target, fsynced, renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from rfi_crawler.export.run_file import fsync_directory


class OutputError(ValueError):
    """An output that cannot be written where asked; the message says why."""


def check_output(path: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output that is one of the inputs (it would be replaced while being read)."""
    if path.exists():
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; give a file name with -o")
        for source in inputs:
            if source.exists() and os.path.samefile(source, path):
                raise OutputError(f"{path}: the output is one of the inputs; choose another name")


@contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A file to write ``path``'s new content into. Only when the block ends without an
    exception does it replace ``path`` (fsynced, then renamed, then the folder fsynced);
    otherwise, or if the process dies, ``path`` keeps its previous content. The hidden
    ``.NAME.*.tmp`` file a kill leaves behind is never read as an input. A target that
    cannot be written is an ``OutputError`` naming it (never the temporary file's name)."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name with -o")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, renamed or removed)
            "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        )
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror})") from None
    try:
        os.chmod(handle.name, 0o666 & ~_umask())  # as open() would have created it
        yield handle
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(handle.name, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write it ({exc.strerror})") from None
    except BaseException:
        handle.close()
        Path(handle.name).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_output(path) as handle:
        handle.write(text.encode("utf-8"))
