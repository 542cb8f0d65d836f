"""The operator's commands: make crawl/test/demo set up once, pass arguments through, and
the demo stays inside its own folder and stops its replica whatever happens."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crawling import PROJECT_ROOT, crawl_items

FAKE_SETUP = """#!/usr/bin/env bash
set -e
cd "$(dirname "$0")/.."
echo setup >> calls.log
mkdir -p .venv/bin
for tool in scrapy python; do
    printf '#!/bin/sh\\necho "%s $*" >> calls.log\\n' "$tool" > .venv/bin/$tool
    chmod +x .venv/bin/$tool
done
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The real Makefile in a tree whose set-up and tools only record that they ran."""
    if shutil.which("make") is None:
        if os.environ.get("CI") == "true":  # .ci/run installs it
            pytest.fail("make is not installed")
        pytest.skip("make is not installed")
    shutil.copy(PROJECT_ROOT / "Makefile", tmp_path / "Makefile")
    for name in ("requirements.txt", "requirements-dev.txt", "pyproject.toml", "setup.py"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup").write_text(FAKE_SETUP)
    (tmp_path / "scripts" / "demo").write_text(
        '#!/usr/bin/env bash\necho "demo $DEMO_DIR $DEMO_ARGS" >> calls.log\n'
    )
    return tmp_path


def make(project: Path, *args: str) -> list[str]:
    done = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (project / "calls.log").read_text().splitlines()
    (project / "calls.log").unlink()
    return calls


def test_setup_runs_once_and_again_only_when_requirements_change(project):
    assert make(project, "crawl", "ARGS=-a since=2025-11-01") == [
        "setup",
        "scrapy crawl rfi_cn -a since=2025-11-01",
    ]
    assert make(project, "test", "ARGS=tests/test_urls.py -q") == [
        "python -m pytest -m not inprocess tests/test_urls.py -q",
        "python -m pytest -m inprocess tests/test_urls.py -q",
    ]
    assert make(project, "crawl") == ["scrapy crawl rfi_cn"]
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("# a new pin\n")
    assert make(project, "test") == [
        "setup",
        "python -m pytest -m not inprocess",
        "python -m pytest -m inprocess",
    ]
    assert len(list((project / ".venv").glob(".setup-*"))) == 1  # the old stamp is gone
    assert make(project, "demo", "DEMO_DIR=/tmp/x", "ARGS=-s A=1") == ["demo /tmp/x -s A=1"]


# The in-process crawls run in a pytest of their own (tests/conftest.py): `make test` runs
# both pytests whatever the first one's result, and fails if either fails. "No test
# selected" (status 5) fails too, unless ARGS chose the tests.
@pytest.mark.parametrize(
    ("args", "statuses", "fails"),
    [
        ((), (0, 0), False),
        ((), (1, 0), True),
        ((), (0, 1), True),
        ((), (0, 5), True),
        (("ARGS=tests/test_urls.py",), (0, 5), False),
        (("ARGS=tests/test_urls.py",), (0, 2), True),
    ],
)
def test_make_test_runs_both_pytests_and_fails_if_either_fails(project, args, statuses, fails):
    make(project, "setup")
    python = project / ".venv" / "bin" / "python"
    outcome = dict(zip(("not inprocess", "inprocess"), statuses, strict=True))
    python.write_text(
        '#!/bin/sh\necho "python $*" >> calls.log\n'
        f'case "$4" in "not inprocess") exit {outcome["not inprocess"]};; '
        f"inprocess) exit {outcome['inprocess']};; esac\nexit 9\n"
    )
    done = subprocess.run(
        ["make", "--no-print-directory", "test", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode != 0) is fails, done.stdout + done.stderr
    calls = (project / "calls.log").read_text().splitlines()
    assert [call.split(" -m ")[2].split(" tests/")[0] for call in calls] == [
        "not inprocess",
        "inprocess",
    ]


def test_a_pytest_that_mixes_in_process_crawls_with_other_tests_is_refused_in_one_line():
    mixed = ["tests/test_e2e_crawl.py", "tests/test_urls.py"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *mixed],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "run in a pytest of their own" in errors[0], done.stderr


def test_crawl_items_refuses_to_start_a_reactor_outside_the_in_process_pytest(tmp_path):
    with pytest.raises(RuntimeError, match="only in tests marked inprocess"):
        crawl_items("http://127.0.0.1:9", tmp_path)


def test_ci_runs_make_test(tmp_path):
    """.ci/run, run as CI runs it, calls `make test` (with CI=true) and nothing else: a
    recording `make` first on PATH stands for the real one."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(PROJECT_ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "make").write_text('#!/bin/sh\necho "make $* CI=$CI" >> "$CALLS"\n')
    (tools / "make").chmod(0o755)
    calls = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "CALLS": str(calls)}
    env.pop("CI", None)
    done = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == ["make test CI=true"]


def listening(base_url: str) -> bool:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.socket() as probe:
        probe.settimeout(5)
        return probe.connect_ex((host, int(port))) == 0


def demo(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    demo_dir, home = tmp_path / "demo", tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "DEMO_DIR": str(demo_dir),
        "DEMO_ARTICLES": "60",
        "DEMO_ARGS": " ".join(args),
        "HOME": str(home),  # the user's real data dir would be under here
        "XDG_DATA_HOME": str(home / "data"),
    }
    done = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "demo")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, demo_dir


def real_data_files() -> dict[Path, int]:
    """Files of the data directory a crawl in this project uses by default."""
    real = PROJECT_ROOT / ".scrapy" / "rfi-crawler"
    return {path: path.stat().st_mtime_ns for path in real.rglob("*") if path.is_file()}


def test_make_demo_crawls_builds_and_stops_its_replica(tmp_path):
    before = real_data_files()
    done, demo_dir = demo(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    dataset = demo_dir / "dataset"
    records = [json.loads(line) for line in (dataset / "rfi-demo.jsonl").read_text().splitlines()]
    expected = int(done.stdout.split(" expected from a default crawl")[0].rsplit("(", 1)[1])
    assert len(records) == expected > 0
    base_url = records[0]["crawl"]["origin"]
    assert {r["crawl"]["origin"] for r in records} == {base_url}
    assert base_url.startswith("http://127.0.0.1:")
    csv_lines = (dataset / "rfi-demo.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) >= expected + 1
    assert (dataset / "rfi-demo-stats.png").read_bytes().startswith(b"\x89PNG")
    assert list((demo_dir / "data" / "output").glob("rfi_cn-*.manifest.json"))
    for line in ("dataset", "CSV", "stats, plot", "run files"):
        assert f"  {line}" in done.stdout
    assert not listening(base_url), "the replica outlived the demo"
    # The crawl logs at the project's default level, INFO: no per-request DEBUG lines.
    crawl_log = (demo_dir / "data" / "crawl.log").read_text(encoding="utf-8")
    assert "] INFO: " in crawl_log and "] DEBUG: " not in crawl_log
    assert not list((tmp_path / "home").rglob("rfi-crawler*")), "the demo wrote outside DEMO_DIR"
    assert real_data_files() == before, "the demo touched the real data directory"


def test_a_failing_demo_still_stops_its_replica(tmp_path):
    done, demo_dir = demo(tmp_path, "-s", "RFI_BACKOFF_BASE=abc")
    assert done.returncode != 0
    assert "RFI_BACKOFF_BASE='abc' is not accepted" in done.stderr
    log = (demo_dir / "replica.log").read_text()
    base_url = log.split(" at ", 1)[1].split("/cn/", 1)[0]
    assert not listening(base_url), "the replica outlived the failed demo"


def test_a_demo_whose_crawl_fails_says_why(tmp_path):
    done, demo_dir = demo(tmp_path, "-s", "RFI_BASE_URL=http://127.0.0.1:1")
    assert done.returncode == 6  # unreachable, passed on
    assert "demo: the crawl failed (exit status 6" in done.stderr
    assert "ERROR: unreachable" in done.stderr  # the crawl log's line, shown
    assert f"its whole log: {demo_dir}/data/crawl.log" in done.stderr


def test_the_replica_refuses_too_few_articles_in_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "tests.replica", "--articles", "5", "--port", "0"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "argument --articles: expected a whole number, at least 40" in done.stderr
    assert "Traceback" not in done.stderr
