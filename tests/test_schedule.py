"""rfi-schedule: the lease in the state store, bounded waits, one-line errors, exit statuses,
``status`` for monitoring, and the deployment steps run as a real service user."""

from __future__ import annotations

import base64
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rfi_crawler import schedule
from rfi_crawler.state import RunRecord, open_store
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.crawling import PROJECT_ROOT

USER, PASSWORD = "rfi", "s3cret"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class FakeScrapyd:
    """Scrapyd's two endpoints the scheduler calls; ``hold`` keeps listjobs waiting."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.auth = AUTH
        self.running: list[dict] = []
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.answer()

            def answer(self) -> None:
                endpoint = self.path.split("?")[0].lstrip("/")
                fake.calls.append(endpoint)
                if self.headers.get("Authorization") != fake.auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                if endpoint == "listjobs.json":
                    fake.arrived.set()
                    fake.hold.wait(300)
                    body = {"status": "ok", "pending": [], "running": fake.running}
                else:
                    body = {"status": "ok", "jobid": f"job{len(fake.calls)}"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scrapyd():
    fake = FakeScrapyd()
    yield fake
    fake.close()


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPYD_")}
    return {**base, "SCRAPYD_USERNAME": USER, "SCRAPYD_PASSWORD": PASSWORD, **extra}


def rfi_schedule(*args: str, environ: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rfi_crawler.schedule", *args],
        cwd=PROJECT_ROOT,
        env=environ or env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


# -- The lease ------------------------------------------------------------------------------


def test_a_lease_is_exclusive_until_it_expires_or_is_released(tmp_path):
    store = SqliteStateStore(tmp_path / "state.sqlite3", timeout=5)
    assert store.acquire_lease("schedule:p/s", "a", 60, now=1000.0)
    assert not store.acquire_lease("schedule:p/s", "b", 60, now=1059.0)
    assert store.acquire_lease("schedule:p/s", "a", 60, now=1059.0)  # renewed by its holder
    assert not store.acquire_lease("schedule:p/s", "b", 60, now=1118.0)
    assert store.acquire_lease("schedule:p/s", "b", 60, now=1119.5)  # a's expired
    store.release_lease("schedule:p/s", "a")  # not a's any more: no effect
    assert not store.acquire_lease("schedule:p/s", "a", 60, now=1120.0)
    store.release_lease("schedule:p/s", "b")
    assert store.acquire_lease("schedule:p/s", "a", 60, now=1120.0)
    assert store.acquire_lease("other", "b", 60, now=1120.0)  # leases are per name
    store.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 4e9  # a clock decades ahead: leases go by the store's clock, not by this one

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_waiting_for_a_lease_is_bounded(tmp_path):
    store = SqliteStateStore(tmp_path / "state.sqlite3", timeout=5)
    clock = FakeClock()
    assert store.acquire_lease("l", "someone-else", 3600, now=store.clock().timestamp())
    assert schedule.with_lease(store, "l", ttl=60, wait=7, clock=clock) is None
    assert 7 <= clock.now < 8
    store.release_lease("l", "someone-else")
    assert schedule.with_lease(store, "l", ttl=60, wait=7, clock=clock) == schedule.holder_name()
    store.close()


def test_two_schedulers_on_clones_of_one_machine_hold_apart(tmp_path, monkeypatch):
    """One host name and one pid (containers given one --hostname): still two holders."""
    store = SqliteStateStore(tmp_path / "state.sqlite3", timeout=5)
    monkeypatch.setattr(schedule.socket, "gethostname", lambda: "rfi-node")
    monkeypatch.setattr(schedule.os, "getpid", lambda: 812)
    schedule.holder_name.cache_clear()
    first = schedule.with_lease(store, "l", ttl=60, wait=0)
    schedule.holder_name.cache_clear()  # the other clone's process
    assert first is not None and first.startswith("rfi-node:812:")
    assert schedule.with_lease(store, "l", ttl=60, wait=0) is None
    schedule.holder_name.cache_clear()
    store.close()


def test_two_schedulers_one_lease(scrapyd, tmp_path):
    """While one scheduler checks Scrapyd, a second one waits (bounded) and gives up with 3."""
    scrapyd.hold.clear()
    data = ["-s", f"RFI_DATA_DIR={tmp_path}", "--url", scrapyd.url]
    first = subprocess.Popen(
        # A long timeout: the fake holds its answer until the second scheduler is done.
        [sys.executable, "-m", "rfi_crawler.schedule", *data, "--timeout", "300s"],
        cwd=PROJECT_ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert scrapyd.arrived.wait(120), "the first scheduler never asked Scrapyd"
        second = rfi_schedule(*data, "--wait", "1s")
        assert second.returncode == schedule.OVERLAP, second.stderr
        assert "another rfi-schedule held the lease schedule:rfi_crawler/rfi_cn" in second.stderr
    finally:
        scrapyd.hold.set()
        out, err = first.communicate(timeout=120)
    assert first.returncode == schedule.SCHEDULED, err
    assert out.strip().startswith("job")
    third = rfi_schedule(*data)  # the lease was released
    assert third.returncode == schedule.SCHEDULED, third.stderr


def test_the_guard_no_longer_lives_in_tmp(scrapyd, tmp_path):
    """Another local user's symlink at the old /tmp lock path truncated a file of ours. The
    child gets a temporary folder of its own, so the symlink is always planted."""
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    temp = tmp_path / "tmp"
    temp.mkdir()
    (temp / "rfi-schedule-rfi_crawler.lock").symlink_to(victim)
    done = rfi_schedule(
        "-s",
        f"RFI_DATA_DIR={tmp_path / 'data'}",
        "--url",
        scrapyd.url,
        environ={**env(), "TMPDIR": str(temp)},
    )
    assert done.returncode == schedule.SCHEDULED, done.stderr
    assert victim.read_text() == "keep me"


# -- Errors and exit statuses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2025-13-45"], "unrecognized arguments: --since 2025-13-45"),
        (["-a", "since=2025-13-45"], "since='2025-13-45' is not accepted: expected a date"),
        (["-a", "sinse=2025-11-01"], "unknown spider argument sinse: did you mean since?"),
        (["-s", "RFI_BACKOFF_BASE=abc"], "RFI_BACKOFF_BASE='abc' is not accepted"),
        (["-s", "RFI_MAX_LISTNG_PAGES=3"], "did you mean RFI_MAX_LISTING_PAGES?"),
        (["-s", "novalue"], "expected NAME=VALUE"),
        (["--timeout", "inf"], "'inf' is not accepted: expected a duration"),
        (
            ["--timeout", "301"],
            "'301' is not accepted: expected a duration such as 90s, 30m, 3h, 2d, at most 300s",
        ),
        (["--wait", "nan"], "'nan' is not accepted: expected a duration"),
        (["--url", "ftp://x"], "--node 'ftp://x' is not accepted"),
        (["--node", "http://[::1"], "--node 'http://[::1' is not accepted"),
        (["--node", "http://h:abc"], "--node 'http://h:abc' is not accepted"),
        (["--node", "http://h:99999"], "--node 'http://h:99999' is not accepted"),
        (["status", "--max-age=-1h"], "expected a duration"),
        (["status", "--runs", "0"], "'0' is not accepted: expected 1 to 1000"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(args, message, tmp_path):
    done = rfi_schedule(*args, "-s", f"RFI_DATA_DIR={tmp_path}")
    assert done.returncode == schedule.USAGE
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert done.stderr.startswith("rfi-schedule: ")


def test_an_empty_password_refuses_to_schedule(scrapyd, tmp_path):
    for environ in (env(SCRAPYD_PASSWORD=""), {**env(), "SCRAPYD_PASSWORD": ""}):
        done = rfi_schedule("--url", scrapyd.url, "-s", f"RFI_DATA_DIR={tmp_path}", environ=environ)
        assert done.returncode == schedule.USAGE
        assert "SCRAPYD_PASSWORD is empty: refusing to schedule" in done.stderr
    only_user = {k: v for k, v in env().items() if k != "SCRAPYD_PASSWORD"}
    assert rfi_schedule("--url", scrapyd.url, environ=only_user).returncode == schedule.USAGE
    assert scrapyd.calls == []


def test_scrapyd_start_refuses_an_empty_password():
    done = subprocess.run(
        [str(PROJECT_ROOT / "deploy" / "scrapyd-start")],
        env=env(SCRAPYD_PASSWORD=""),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "refusing to start Scrapyd without authentication" in done.stderr


def test_unreachable_and_overlap_have_their_own_statuses(scrapyd, tmp_path):
    data = ["-s", f"RFI_DATA_DIR={tmp_path}"]
    unreachable = rfi_schedule("--url", "http://127.0.0.1:9", *data)
    assert unreachable.returncode == schedule.UNREACHABLE == 4
    assert "cannot reach Scrapyd" in unreachable.stderr
    scrapyd.running = [{"id": "abc", "spider": "rfi_cn"}]
    busy = rfi_schedule("schedule", "--url", scrapyd.url, *data)
    assert busy.returncode == schedule.OVERLAP == 3
    assert "already pending or running (abc on 127.0.0.1:" in busy.stderr


def test_help_has_formats_and_no_markup():
    for args in (["--help"], ["schedule", "--help"], ["status", "--help"]):
        done = rfi_schedule(*args)
        assert done.returncode == 0
        assert "``" not in done.stdout and ":class:" not in done.stdout
    assert "2026-12-06T09:00:00+00:00" in rfi_schedule("--help").stdout
    assert "90s, 30m, 3h, 2d" in rfi_schedule("--help").stdout


# -- status ----------------------------------------------------------------------------------


def record_run(store, data: Path, run_id: str, ended: datetime | None, reason: str | None, n: int):
    output = data / "output" / f"rfi_cn-{run_id}.jsonl"
    output.parent.mkdir(parents=True, exist_ok=True)
    started = (ended or datetime.now(UTC)) - timedelta(minutes=5)
    store.begin_run(RunRecord(run_id, None, started.isoformat(), str(output), "x.lock"))
    if ended is not None:
        store.finish_run(run_id, ended.isoformat(timespec="seconds"), reason)
        manifest = output.with_name(f"rfi_cn-{run_id}.manifest.json")
        manifest.write_text(json.dumps({"records": n, "finish_reason": reason}))


def test_status_lists_runs_and_fails_when_the_last_success_is_too_old(tmp_path, capsys):
    data = tmp_path / "data"
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}"]) == schedule.STALE
    assert "no state store" in capsys.readouterr().err
    store = SqliteStateStore(data / "state.sqlite3", timeout=5)
    now = datetime.now(UTC)
    record_run(store, data, "20261206T080000Z-a", now - timedelta(hours=5), "finished", 68)
    record_run(store, data, "20261206T090000Z-b", now - timedelta(hours=4), "blocked", 3)
    record_run(store, data, "20261206T100000Z-c", None, None, 0)
    store.close()
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}"]) == schedule.STALE
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "20261206T100000Z-c" in lines[1] and "running, or died" in lines[1]
    assert "20261206T090000Z-b" in lines[2] and "blocked  3 records" in lines[2]
    assert "20261206T080000Z-a" in lines[3] and "finished  68 records" in lines[3]
    assert "last successful run ended 5 h 00 min ago" in err and "older than --max-age" in err
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}", "--max-age", "6h"]) == 0
    assert "last successful run ended 5 h 00 min ago" in capsys.readouterr().out
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}", "--runs", "2"]) == 5
    assert "no successful run among the last 2" in capsys.readouterr().err


class _FourHoursAhead(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(hours=4)


def test_status_judges_a_runs_age_by_the_stores_clock(tmp_path, capsys, monkeypatch):
    """The monitoring host's clock four hours ahead: a run that ended just now (by the
    store's clock, which runs write their end by) is not reported stale."""
    data = tmp_path / "data"
    store = SqliteStateStore(data / "state.sqlite3", timeout=5)
    record_run(store, data, "20261206T080000Z-a", store.clock(), "finished", 3)
    store.close()
    monkeypatch.setattr(schedule, "datetime", _FourHoursAhead)
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}"]) == 0
    assert "last successful run ended 0 min ago" in capsys.readouterr().out


def test_status_takes_the_run_that_ended_last_whatever_the_hosts_clocks(tmp_path, capsys):
    """Node b's clock ran a day ahead and b died 20 h ago; node a ended a crawl 5 min ago.
    b's runs started later by b's clock: the last success is still a's, by the store's."""
    data = tmp_path / "data"
    store = SqliteStateStore(data / "state.sqlite3", timeout=5)
    now = store.clock()
    for hours in (22, 21, 20):
        output = data / "output" / f"rfi_cn-b{hours}.jsonl"
        output.parent.mkdir(parents=True, exist_ok=True)
        started = now + timedelta(days=1) - timedelta(hours=hours, minutes=5)
        store.begin_run(RunRecord(f"b{hours}", None, started.isoformat(), str(output), "x.lock"))
        ended = now - timedelta(hours=hours)
        store.finish_run(f"b{hours}", ended.isoformat(timespec="seconds"), "finished")
    record_run(store, data, "a0", now - timedelta(minutes=5), "finished", 3)
    store.close()
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}", "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "last successful run ended 5 min ago" in out
    assert out.splitlines()[1].startswith("  a0 ")


def test_status_does_not_take_an_end_after_the_stores_now_as_fresh(tmp_path, capsys):
    """Written by a clock ahead of the store's: its age is unknown, and said (exit 5), not
    a negative age that would keep monitoring quiet for hours."""
    data = tmp_path / "data"
    store = SqliteStateStore(data / "state.sqlite3", timeout=5)
    record_run(store, data, "r-ahead", store.clock() + timedelta(hours=5), "finished", 3)
    store.close()
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}"]) == schedule.STALE
    err = capsys.readouterr().err
    assert re.search(r"ended (4 h 59|5 h 00) min after the state store's now .* unknown", err)
    # A minute ahead (a clock step, rounding): just ended.
    data = tmp_path / "other"
    store = SqliteStateStore(data / "state.sqlite3", timeout=5)
    record_run(store, data, "r-near", store.clock() + timedelta(minutes=1), "finished", 3)
    store.close()
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={data}"]) == 0
    assert "last successful run ended 0 min ago" in capsys.readouterr().out


# -- The deployment steps, with a real service user --------------------------------------


@pytest.fixture
def service_root():
    """A root for deploy/install-service's paths that another user can traverse."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail("CI runs as root with useradd: the deployment test must run")
        pytest.skip("needs root and useradd (creates a service user)")
    root = Path(tempfile.mkdtemp(prefix="rfi-deploy-"))
    root.chmod(0o755)
    user = f"rfitest{uuid.uuid4().hex[:6]}"
    try:
        yield root, user
    finally:
        subprocess.run(["userdel", user], capture_output=True, check=False)
        subprocess.run(["groupdel", user], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def as_user(user: str, command: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess:
    account = pwd.getpwnam(user)
    return subprocess.run(
        command,
        cwd="/",
        env={**environ, "HOME": account.pw_dir, "PYTHONDONTWRITEBYTECODE": "1"},
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def service_python(user: str) -> tuple[str, dict[str, str]]:
    """An interpreter the service user may run, with this project's packages. A deployment
    uses /usr/bin/python3; this machine's own may live under root's private home, so the
    system's one of the same version reads the virtualenv's packages then."""
    environ = {"PYTHONPATH": str(PROJECT_ROOT)}
    try:
        if as_user(user, [sys.executable, "-c", "pass"], environ).returncode == 0:
            return sys.executable, environ
    except PermissionError:
        pass
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/bin:/usr/local/bin")
    assert system, f"no {version} the service user can run"
    packages = next(Path(sys.prefix).glob(f"lib/{version}/site-packages"))
    return system, {"PYTHONPATH": f"{PROJECT_ROOT}:{packages}"}


def test_the_deployment_steps_work_for_the_service_user_after_root(scrapyd, service_root):
    root, user = service_root
    installed = subprocess.run(
        [str(PROJECT_ROOT / "deploy" / "install-service")],
        env={**os.environ, "RFI_ROOT": str(root), "RFI_SERVICE_USER": user},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    account = pwd.getpwnam(user)
    data = root / "var/lib/rfi-crawler"
    for folder in (data, root / "var/lib/scrapyd", root / "var/log/rfi-crawler"):
        assert (folder.stat().st_uid, folder.stat().st_mode & 0o777) == (account.pw_uid, 0o750)
    env_file = root / "etc/rfi-crawler/scrapyd.env"
    stat = env_file.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (0, account.pw_gid, 0o640)
    password = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert len(password["SCRAPYD_PASSWORD"]) == 32
    # Install again: idempotent, the password kept.
    again = subprocess.run(
        [str(PROJECT_ROOT / "deploy" / "install-service")],
        env={**os.environ, "RFI_ROOT": str(root), "RFI_SERVICE_USER": user},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0 and env_file.read_text().endswith(
        password["SCRAPYD_PASSWORD"] + "\n"
    )

    python, python_env = service_python(user)
    credentials = {f"SCRAPYD_{k}": password[f"SCRAPYD_{k}"] for k in ("USERNAME", "PASSWORD")}
    token = f"{credentials['SCRAPYD_USERNAME']}:{credentials['SCRAPYD_PASSWORD']}"
    scrapyd.auth = "Basic " + base64.b64encode(token.encode()).decode()
    # Root runs the scheduler once (by hand, following the README) …
    first = rfi_schedule(
        "--url", scrapyd.url, "-s", f"RFI_DATA_DIR={data}", environ=env(**credentials)
    )
    assert first.returncode == 0, first.stderr
    assert (data / "state.sqlite3").stat().st_uid == account.pw_uid
    # … then the service user's cron line, as written in deploy/crontab, with this test's
    # paths and Scrapyd (credentials from the file, readable by the user alone).
    cron = (PROJECT_ROOT / "deploy" / "crontab").read_text().splitlines()[-1]
    command = cron.split(" ", 5)[5]
    command = (
        command.replace("/etc/rfi-crawler", str(root / "etc/rfi-crawler"))
        .replace("/var/lib/rfi-crawler", str(data))
        .replace("/var/log/rfi-crawler", str(root / "var/log/rfi-crawler"))
        .replace("/opt/rfi-crawler/.venv/bin/rfi-schedule", f"{python} -m rfi_crawler.schedule")
        .replace("http://127.0.0.1:6800", scrapyd.url)
    )
    fresh = {k: v for k, v in env().items() if not k.startswith("SCRAPYD_")}
    fresh.update(python_env)
    ran = as_user(user, ["/bin/sh", "-c", command + "; echo exit=$?"], fresh)
    log = (root / "var/log/rfi-crawler/rfi-schedule.log").read_text()
    assert ran.stdout.strip() == "exit=0", ran.stdout + ran.stderr + log
    assert log.strip().startswith("job"), log
    status = as_user(
        user,
        [python, "-m", "rfi_crawler.schedule", "status", "-s", f"RFI_DATA_DIR={data}"],
        fresh,
    )
    assert status.returncode == schedule.STALE  # no crawl ran: nothing succeeded yet
    assert "PermissionError" not in status.stderr and "Traceback" not in status.stderr


@pytest.mark.parametrize("command", [["status"], ["schedule", "--url", "http://127.0.0.1:9"]])
def test_a_damaged_state_store_is_one_line_not_a_traceback(tmp_path, command):
    store = open_store(str(tmp_path / "state.sqlite3"))  # a store, then its pages damaged
    store.close()
    data = bytearray((tmp_path / "state.sqlite3").read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # past the header page: every table's page
    (tmp_path / "state.sqlite3").write_bytes(bytes(data))
    done = rfi_schedule(*command, "-s", f"RFI_DATA_DIR={tmp_path}")
    assert done.returncode == schedule.FAILED, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
