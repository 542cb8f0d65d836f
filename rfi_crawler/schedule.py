"""``rfi-schedule``: one ``rfi_cn`` job on Scrapyd at a time; the runs' health (``status``)."""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

if TYPE_CHECKING:
    from rfi_crawler.config import RfiConfig
    from rfi_crawler.state import StateStore

# Exit statuses (README, "Exit status"): 1 is anything unexpected, 2 a usage error.
SCHEDULED, FAILED, USAGE, OVERLAP, UNREACHABLE, STALE = 0, 1, 2, 3, 4, 5
SUCCESS_REASONS = ("finished",)

DESCRIPTION = """\
Schedule one rfi_cn job on Scrapyd, unless one is already pending or running, or
(status) show the last runs and whether the last successful one is recent enough.

  rfi-schedule [schedule] [--url URL] [-s NAME=VALUE ...] [-a NAME=VALUE ...]
  rfi-schedule status [-s RFI_DATA_DIR=PATH] [--max-age 3h] [--runs 10]

Scrapyd has no cron: call this from cron or a systemd timer, with the same
-s RFI_DATA_DIR=... as the jobs (their state store holds the scheduler's lease and the
runs). Credentials come from the environment (SCRAPYD_USERNAME, SCRAPYD_PASSWORD), the
URL from --url or SCRAPYD_URL. Dates and times are UTC, ISO 8601
(2026-12-06T09:00:00+00:00); durations are 90s, 30m, 3h, 2d or seconds.

Options of each command: rfi-schedule schedule -h, rfi-schedule status -h.

Exit status: 0 scheduled (status: the last success is recent); 1 unexpected error
(state store); 2 usage error (bad option, setting or empty SCRAPYD_PASSWORD);
3 not scheduled: a job or another scheduler is active; 4 Scrapyd unreachable or
refusing; 5 (status) no successful run within --max-age.
"""


class ScrapydError(RuntimeError):
    """Scrapyd could not be reached, refused the call, or answered with an error."""


class UsageError(ValueError):
    """A bad option or environment: one line, exit status 2."""


class Scrapyd:
    def __init__(
        self, url: str, username: str | None, password: str | None, timeout: float
    ) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout
        self.headers = {}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def call(
        self,
        endpoint: str,
        query: dict[str, str] | None = None,
        form: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.url}/{endpoint}" + (f"?{urlencode(query)}" if query else "")
        data = urlencode(form).encode() if form is not None else None
        request = Request(url, data=data, headers=self.headers)
        try:
            with urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except HTTPError as exc:
            hint = " (check SCRAPYD_USERNAME / SCRAPYD_PASSWORD)" if exc.code == 401 else ""
            raise ScrapydError(
                f"Scrapyd at {self.url} answered HTTP {exc.code} to {endpoint}{hint}"
            ) from exc
        except (URLError, OSError) as exc:
            raise ScrapydError(f"cannot reach Scrapyd at {self.url}: {exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ScrapydError(f"Scrapyd at {self.url} answered {endpoint} with non-JSON") from exc
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message", answer) if isinstance(answer, dict) else answer
            raise ScrapydError(f"Scrapyd refused {endpoint}: {message}")
        return answer


def active_jobs(scrapyd: Scrapyd, project: str, spider: str) -> list[dict[str, Any]]:
    """Pending and running jobs of ``spider`` in ``project``."""
    jobs = scrapyd.call("listjobs.json", {"project": project})
    return [
        job
        for state in ("pending", "running")
        for job in jobs.get(state, [])
        if job.get("spider") == spider
    ]


def schedule(
    scrapyd: Scrapyd, project: str, spider: str, settings: list[str], arguments: list[str]
) -> tuple[int, str]:
    """(exit status, message) of one scheduling attempt."""
    busy = active_jobs(scrapyd, project, spider)
    if busy:
        ids = ", ".join(f"{job.get('id')}" for job in busy)
        return OVERLAP, (
            f"not scheduled: a {spider} job of {project} is already pending or "
            f"running ({ids}); runs must not overlap"
        )
    form = [("project", project), ("spider", spider)]
    form += [("setting", setting) for setting in settings]
    form += [tuple(argument.split("=", 1)) for argument in arguments]
    answer = scrapyd.call("schedule.json", form=form)
    return SCHEDULED, answer["jobid"]


# -- Options -------------------------------------------------------------------------------


def _pair(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def _duration(high: float) -> Any:
    """``90s``, ``30m``, ``3h``, ``2d`` or plain seconds: finite, above 0, at most ``high``."""

    def parse(text: str) -> float:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
        unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
        value = float(match.group(1)) * unit[match.group(2)] if match else math.nan
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not accepted: expected a duration such as 90s, 30m, 3h, 2d, "
                f"at most {high:g}s"
            )
        return value

    return parse


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not accepted: expected 1 to 1000")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-s",
        "--setting",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=VALUE",
        help="a Scrapy setting for the job; the RFI_* ones are checked here first "
        "(RFI_DATA_DIR also locates the state store)",
    )
    common.add_argument("--project", default="rfi_crawler")
    common.add_argument("--spider", default="rfi_cn")
    parser = _Parser(
        prog="rfi-schedule",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    scheduling = commands.add_parser(
        "schedule", parents=[common], help="schedule one job (the default)"
    )
    scheduling.add_argument("--url", default=os.environ.get("SCRAPYD_URL", "http://127.0.0.1:6800"))
    scheduling.add_argument(
        "-a",
        "--argument",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=VALUE",
        help="a spider argument for the job (checked here first)",
    )
    scheduling.add_argument(
        "--timeout", type=_duration(300), default=30.0, help="for each call to Scrapyd (30s)"
    )
    scheduling.add_argument(
        "--wait",
        type=_duration(3600),
        default=60.0,
        help="longest wait for another scheduler's lease (60s); then exit 3",
    )
    status = commands.add_parser(
        "status", parents=[common], help="the last runs, and exit 5 when none succeeded lately"
    )
    status.add_argument(
        "--max-age",
        type=_duration(366 * 86400),
        default=3 * 3600.0,
        help="exit 5 when the last successful run finished longer ago (3h)",
    )
    status.add_argument("--runs", type=_count, default=10, help="how many runs to list (10)")
    return parser


def _config(settings: list[str]) -> RfiConfig:
    """The jobs' RFI_* settings, validated as a crawl would (a bad value fails here, not
    in a job an hour later)."""
    from scrapy.settings import Settings

    from rfi_crawler.config import ConfigError, RfiConfig

    values = dict(setting.split("=", 1) for setting in settings)
    try:
        return RfiConfig.from_settings(
            Settings({k: v for k, v in values.items() if k.startswith("RFI_")})
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _check_arguments(arguments: list[str], config: RfiConfig) -> None:
    from rfi_crawler.arguments import SpiderArguments
    from rfi_crawler.config import ConfigError

    try:
        SpiderArguments.from_kwargs(dict(a.split("=", 1) for a in arguments), config.base_url)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _credentials() -> tuple[str | None, str | None]:
    """An empty password would make Scrapyd run without authentication: refused."""
    username = os.environ.get("SCRAPYD_USERNAME") or None
    password = os.environ.get("SCRAPYD_PASSWORD")
    if (username or password is not None) and not password:
        raise UsageError(
            "SCRAPYD_PASSWORD is empty: refusing to schedule (Scrapyd would run without "
            "authentication); set a password, e.g. openssl rand -hex 16"
        )
    return username, password


# -- The state store, opened safely ----------------------------------------------------------


def _sqlite_path(config: RfiConfig) -> Path | None:
    uri = config.state_uri
    if "://" in uri and not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///")).expanduser()


def open_state(config: RfiConfig) -> StateStore:
    """The jobs' state store. As root, a store it creates in a data directory that belongs to
    another user (the service user) is given to that user, so a scheduler run once by root
    never locks the service out."""
    from rfi_crawler.state import open_store

    path = _sqlite_path(config)
    if path is not None and os.geteuid() == 0 and path.parent.is_dir():
        owner = path.parent.stat()
        if owner.st_uid != 0 and not path.exists():
            # An empty file is an empty SQLite database; SQLite, run as root, gives its
            # journal files the database's owner.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
            try:
                os.fchown(fd, owner.st_uid, owner.st_gid)
            finally:
                os.close(fd)
    return open_store(config.state_uri, config.state_timeout)


def _store_name(config: RfiConfig) -> str:
    """The state URI for messages: never with its password."""
    from rfi_crawler.state import redact_uri

    return redact_uri(config.state_uri)


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def with_lease(
    store: StateStore, name: str, ttl: float, wait: float, clock: Any = time
) -> str | None:
    """Take the lease ``name`` within ``wait`` seconds; the holder's name, else None."""
    holder = holder_name()
    deadline = clock.monotonic() + wait
    while True:
        if store.acquire_lease(name, holder, ttl, clock.time(), kind="scheduler"):
            return holder
        if clock.monotonic() >= deadline:
            return None
        clock.sleep(min(0.5, max(0.0, deadline - clock.monotonic())))


# -- Commands -------------------------------------------------------------------------------


def run_schedule(options: argparse.Namespace) -> int:
    config = _config(options.setting)
    _check_arguments(options.argument, config)
    username, password = _credentials()
    scrapyd = Scrapyd(options.url, username, password, options.timeout)
    from rfi_crawler.state import StateStoreError

    try:
        store = open_state(config)
    except StateStoreError as exc:
        print(f"rfi-schedule: {exc}", file=sys.stderr)
        return FAILED
    lease = f"schedule:{options.project}/{options.spider}"
    try:
        # The lease outlives a crash by at most the calls it guards (two, each bounded).
        holder = with_lease(store, lease, ttl=2 * options.timeout + 30, wait=options.wait)
        if holder is None:
            print(
                f"rfi-schedule: not scheduled: another rfi-schedule held the lease {lease} in "
                f"{_store_name(config)} for {options.wait:g}s",
                file=sys.stderr,
            )
            return OVERLAP
        try:
            status, message = schedule(
                scrapyd, options.project, options.spider, options.setting, options.argument
            )
        except ScrapydError as exc:
            print(f"rfi-schedule: {exc}", file=sys.stderr)
            return UNREACHABLE
        finally:
            store.release_lease(lease, holder)
    except StateStoreError as exc:
        print(f"rfi-schedule: {exc}", file=sys.stderr)
        return FAILED
    finally:
        store.close()
    print(message, file=sys.stdout if status == SCHEDULED else sys.stderr)
    return status


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def _records(output_path: str) -> str:
    from rfi_crawler.run import manifest_path

    try:
        manifest = json.loads(manifest_path(Path(output_path)).read_text(encoding="utf-8"))
        return f"{int(manifest['records'])} records"
    except (OSError, ValueError, KeyError, TypeError):
        return "records unknown (no manifest)"


def run_status(options: argparse.Namespace, now: datetime | None = None) -> int:
    from rfi_crawler.state import StateStoreError

    config = _config(options.setting)
    path = _sqlite_path(config)
    if path is not None and not path.exists():
        print(f"rfi-schedule status: no state store at {path}: no run yet", file=sys.stderr)
        return STALE
    now = now or datetime.now(UTC)
    try:
        store = open_state(config)
        try:
            runs = store.recent_runs(options.runs)
        finally:
            store.close()
    except StateStoreError as exc:
        print(f"rfi-schedule status: {exc}", file=sys.stderr)
        return FAILED
    print(f"last {len(runs)} runs in {_store_name(config)} (newest first):")
    last_success: datetime | None = None
    for run in runs:
        reason = run.finish_reason or "running, or died (recovered by the next run)"
        print(
            f"  {run.run_id}  started {run.started_at}  ended {run.finished_at or '-'}  "
            f"{reason}  {_records(run.output_path)}"
        )
        if run.finish_reason in SUCCESS_REASONS and run.finished_at and last_success is None:
            last_success = datetime.fromisoformat(run.finished_at)
    if last_success is None:
        print(f"no successful run among the last {len(runs)}", file=sys.stderr)
        return STALE
    age = (now - last_success).total_seconds()
    line = f"last successful run ended {_age(age)} ago ({last_success.isoformat()})"
    if age > options.max_age:
        print(f"{line}: older than --max-age {_age(options.max_age)}", file=sys.stderr)
        return STALE
    print(line)
    return SCHEDULED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # No sub-command means "schedule" (the cron line and timer of earlier releases).
    if not argv or argv[0] not in ("schedule", "status", "-h", "--help"):
        argv.insert(0, "schedule")
    try:
        options = _parser().parse_args(argv)
        if urlsplit(getattr(options, "url", "http://x")).scheme not in ("http", "https"):
            raise UsageError(f"--url {options.url!r} is not accepted: expected http(s)://host:port")
        if options.command == "status":
            return run_status(options)
        return run_schedule(options)
    except UsageError as exc:
        print(f"rfi-schedule: {exc}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
