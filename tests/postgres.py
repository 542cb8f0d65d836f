"""A throwaway PostgreSQL cluster for tests (Debian's package), and a fixture that runs a
test once per state backend.

Import the fixtures into a test module: ``from tests.postgres import postgres, state_uri``.
The cluster is started once per session on a free loopback port, with password
authentication (so that tests can check the password never leaks), and removed at the end.
Without PostgreSQL the PostgreSQL cases skip, except under CI=true where they fail.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

USER = "rfi_test"


def find_bindir() -> Path | None:
    """``initdb`` and ``pg_ctl``: on PATH, else Debian's versioned directory (newest)."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.password = secrets.token_urlsafe(16)
        self.root = Path(tempfile.mkdtemp(prefix="rfi-pg-"))
        self.port = free_port()
        self._names = itertools.count(1)
        # initdb refuses to run as root: then the cluster belongs to the postgres user.
        self.as_user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        if self.as_user:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if self.as_user:
            os.chown(password_file, pwd.getpwnam(self.as_user).pw_uid, -1)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.root / "data"),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        password_file.unlink()
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "120",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
        )

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            data = str(self.root / "data")
            self._run(str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", data)
        shutil.rmtree(self.root, ignore_errors=True)

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URI (with the password)."""
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(self.uri(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.uri(name)


_cluster: PostgresCluster | None = None


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL cluster (started on first use)."""
    global _cluster
    if _cluster is None:
        bindir = find_bindir()
        if bindir is None:
            message = "PostgreSQL is not installed (scripts/setup installs it as root)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        _cluster = PostgresCluster(bindir)
        _cluster.start()
    yield _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


@pytest.fixture(params=["sqlite", "postgresql"])
def state_uri(request, tmp_path) -> str:
    """A new, empty store's URI, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite3'}"
    return request.getfixturevalue("postgres").new_database()
