"""``whole_file``: a file written whole or not at all, renamed over its target, or linked
beside it without ever replacing one (``replace=False``, the archive export's mode)."""

from __future__ import annotations

import errno
import os
import signal
import stat
from pathlib import Path

import pytest

from rfi_crawler import whole_file as module
from rfi_crawler.whole_file import OutputError, whole_file

DATA = "一篇文章\n".encode() * 20_000  # 260 KB: more than one buffer's worth of writes


class DiskFull:
    """``os`` as the module that writes files whole sees it, whose writes stop at ``room``
    bytes."""

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, handle: int, data: bytes) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(handle, bytes(data[: self.room]))
        self.room -= written
        return written

    def __getattr__(self, name: str):
        return getattr(os, name)


class FolderFull:
    """``os`` whose ``link`` finds no room for another name in the folder."""

    def link(self, source: Path, target: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str):
        return getattr(os, name)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_new_file_is_written_whole_as_open_would_have_made_it(tmp_path):
    target = tmp_path / "a.txt"
    previous = os.umask(0o022)
    try:
        with whole_file(target, replace=False) as out:
            out.write(DATA)
    finally:
        os.umask(previous)
    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert names(tmp_path) == ["a.txt"]  # the temporary file's other name is gone


def test_never_replace_refuses_a_file_that_holds_something_else(tmp_path):
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")
    with pytest.raises(OutputError) as raised, whole_file(target, replace=False) as out:
        out.write(DATA)
    assert str(raised.value) == f"{target}: exists and holds something else"
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["a.txt"]


def test_never_replace_leaves_a_file_that_holds_the_same_bytes_as_it_is(tmp_path):
    """The same record exported twice: done, and the file there is the one there was."""
    target = tmp_path / "a.txt"
    target.write_bytes(DATA)
    inode = target.stat().st_ino
    with whole_file(target, replace=False) as out:
        out.write(DATA)
    assert target.stat().st_ino == inode and target.read_bytes() == DATA
    assert names(tmp_path) == ["a.txt"]


def test_never_replace_refuses_a_symbolic_link_even_to_the_same_bytes(tmp_path):
    real = tmp_path / "real.txt"
    real.write_bytes(DATA)
    target = tmp_path / "a.txt"
    target.symlink_to(real)
    with (
        pytest.raises(OutputError, match="exists and holds something else"),
        whole_file(target, replace=False) as out,
    ):
        out.write(DATA)
    assert target.is_symlink() and real.read_bytes() == DATA
    assert names(tmp_path) == ["a.txt", "real.txt"]


class Waited(Exception):
    pass


def waited(signum: int, frame: object) -> None:
    raise Waited


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_never_replace_refuses_what_is_not_a_file_without_reading_it(tmp_path, kind):
    """A FIFO there was read to compare it, which waited for a writer for ever."""
    target = tmp_path / "a.txt"
    target.mkdir() if kind == "folder" else os.mkfifo(target)
    previous = signal.signal(signal.SIGALRM, waited)
    signal.setitimer(signal.ITIMER_REAL, 5)
    try:
        with pytest.raises(OutputError) as raised, whole_file(target, replace=False) as out:
            out.write(DATA)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert str(raised.value) == f"{target}: exists and holds something else"
    assert names(tmp_path) == ["a.txt"]


def test_replace_renames_over_what_is_there(tmp_path):
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")
    with whole_file(target) as out:
        out.write(DATA)
    assert target.read_bytes() == DATA
    assert names(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("replace", [True, False])
def test_an_error_in_the_block_leaves_no_file_and_passes_as_it_is(tmp_path, replace):
    target = tmp_path / "a.txt"
    with (
        pytest.raises(OSError, match="an input failed"),  # not made an OutputError
        whole_file(target, replace=replace) as out,
    ):
        out.write(DATA)
        raise OSError("an input failed")
    assert names(tmp_path) == []


@pytest.mark.parametrize("replace", [True, False])
def test_a_full_disk_mid_file_names_the_target_and_leaves_no_file(tmp_path, monkeypatch, replace):
    target = tmp_path / "a.txt"
    monkeypatch.setattr(module, "os", DiskFull(room=100_000))
    with pytest.raises(OutputError) as raised, whole_file(target, replace=replace) as out:
        out.write(DATA)
    assert str(raised.value) == f"{target}: cannot write it (No space left on device)"
    assert names(tmp_path) == []


def test_never_replace_into_a_full_folder_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    monkeypatch.setattr(module, "os", FolderFull())
    with pytest.raises(OutputError) as raised, whole_file(target, replace=False) as out:
        out.write(DATA)
    assert str(raised.value) == f"{target}: cannot write it (No space left on device)"
    assert names(tmp_path) == []


def test_an_error_names_the_output_as_given_not_the_file_written(tmp_path, monkeypatch):
    monkeypatch.setattr(module, "os", DiskFull(room=0))
    with (
        pytest.raises(OutputError, match=r"^latest\.txt: cannot write it"),
        whole_file(tmp_path / "a.txt", named=Path("latest.txt")) as out,
    ):
        out.write(DATA)
    assert names(tmp_path) == []


@pytest.mark.parametrize("replace", [True, False])
def test_a_name_near_the_longest_a_file_may_have_is_written(tmp_path, replace):
    # 252 bytes: the target fits NAME_MAX (255), ".NAME.XXXXXXXX.tmp" would not.
    target = tmp_path / ("新" * 80 + "x" * 12)
    with whole_file(target, replace=replace) as out:
        out.write(b"whole")
    assert target.read_bytes() == b"whole"
    assert [path.name for path in tmp_path.iterdir()] == [target.name]
