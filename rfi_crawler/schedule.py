"""``rfi-schedule``: crawls on one or several Scrapyd nodes, never two hourly ones at once;
backfills split into windows over the nodes; the runs' health (``status``)."""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import secrets
import socket
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfi_crawler.scheduling.hourly import all_runs, hourly_busy, pick_order, run_alive
from rfi_crawler.scheduling.lease import SCHEDULER_KIND, LeaseLost, SchedulerLease
from rfi_crawler.scheduling.nodes import Node, NodeError, from_file, from_urls
from rfi_crawler.scheduling.scrapyd import NodeState, ScrapydError, probe
from rfi_crawler.scheduling.windows import SPLITS, SUCCESS_REASONS, is_backfill_job

if TYPE_CHECKING:
    from collections.abc import Callable

    from rfi_crawler.config import RfiConfig
    from rfi_crawler.state import StateStore

# Exit statuses (README, "Exit status"): 1 is anything unexpected, 2 a usage error.
SCHEDULED, FAILED, USAGE, OVERLAP, UNREACHABLE, STALE, WINDOWS_FAILED = 0, 1, 2, 3, 4, 5, 6
BACKFILL_SPIDER = "rfi_cn_backfill"

DESCRIPTION = """\
Schedule one rfi_cn job on a healthy Scrapyd node, unless one is already pending or
running on any node; split a backfill into windows over the nodes (backfill); or
(status) show the last runs, the nodes, and whether the last success is recent enough.

  rfi-schedule [schedule] [--node URL ... | --nodes FILE] [-s NAME=VALUE ...] [-a NAME=VALUE ...]
  rfi-schedule backfill --since 2019-01-01 --until 2020-12-31 [--split month] [--retry-failed]
  rfi-schedule status [-s RFI_DATA_DIR=PATH] [--node URL ...] [--max-age 3h] [--runs 10]

Scrapyd has no cron: call this from cron or a systemd timer, with the same -s settings
as the jobs (RFI_DATA_DIR or RFI_STATE_URI: their state store holds the scheduler's
leases and the runs; with several nodes, a PostgreSQL store they all share). Nodes come
from --node (repeated), a TOML nodes file (--nodes, docs/cluster.md), or SCRAPYD_URL;
credentials from the environment (SCRAPYD_USERNAME, SCRAPYD_PASSWORD, or the variable a
nodes file names), never from the command line. A node that does not answer is skipped
and reported. Dates and times are UTC, ISO 8601 (2026-12-06T09:00:00+00:00); durations
are 90s, 30m, 3h, 2d or seconds.

Options of each command: rfi-schedule schedule -h, backfill -h, status -h.

Exit status: 0 scheduled (status: the last success is recent; backfill: every window is
done, running or scheduled); 1 unexpected error (state store); 2 usage error (bad option,
setting, nodes file or empty SCRAPYD_PASSWORD); 3 not scheduled: a job or another
scheduler is active; 4 Scrapyd unreachable or refusing (every node; status: any node);
5 (status) no successful run within --max-age; 6 (backfill) windows failed and were not
retried (use --retry-failed).
"""


class UsageError(ValueError):
    """A bad option or environment: one line, exit status 2."""


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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not accepted: expected a date such as 2019-01-01"
        ) from None


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
        "(RFI_DATA_DIR or RFI_STATE_URI also locate the state store)",
    )
    common.add_argument("--project", default="rfi_crawler")
    nodes = argparse.ArgumentParser(add_help=False)
    nodes.add_argument(
        "--node",
        action="append",
        default=[],
        metavar="URL",
        help="a Scrapyd node, http(s)://host:port, without credentials (repeat for each)",
    )
    nodes.add_argument(
        "--url", action="append", dest="node", metavar="URL", help="the same as --node"
    )
    nodes.add_argument(
        "--nodes", type=Path, metavar="FILE", help="a TOML file of nodes (docs/cluster.md)"
    )
    nodes.add_argument(
        "--timeout", type=_duration(300), default=30.0, help="for each call to Scrapyd (30s)"
    )
    waits = argparse.ArgumentParser(add_help=False)
    waits.add_argument(
        "--wait",
        type=_duration(3600),
        default=60.0,
        help="longest wait for another scheduler's lease (60s); then exit 3",
    )
    parser = _Parser(
        prog="rfi-schedule",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    scheduling = commands.add_parser(
        "schedule",
        parents=[common, nodes, waits],
        help="schedule one job on a healthy node (the default)",
    )
    scheduling.add_argument("--spider", default="rfi_cn")
    scheduling.add_argument(
        "-a",
        "--argument",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=VALUE",
        help="a spider argument for the job (checked here first)",
    )
    backfill = commands.add_parser(
        "backfill",
        parents=[common, nodes, waits],
        help="one job per window of --since..--until, spread over the healthy nodes",
    )
    backfill.add_argument(
        "--spider",
        default=BACKFILL_SPIDER,
        help=f"the spider of each window's job ({BACKFILL_SPIDER}); it gets since and until",
    )
    backfill.add_argument("--since", type=_day, required=True, help="first day, 2019-01-01")
    backfill.add_argument("--until", type=_day, required=True, help="last day, 2020-12-31")
    backfill.add_argument("--split", choices=SPLITS, default="month", help="one window per (month)")
    backfill.add_argument(
        "--retry-failed",
        action="store_true",
        help="schedule again the windows whose job failed (on another node if one is healthy)",
    )
    backfill.add_argument(
        "--per-node",
        type=_count,
        default=1,
        help="backfill jobs pending or running per node at most (1; Scrapyd's max_proc = 2 "
        "leaves the other slot to the hourly crawl); the other windows wait for the next call",
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="show each window's state; schedule nothing"
    )
    backfill.add_argument(
        "--window-ttl",
        type=_duration(366 * 86400),
        default=2 * 86400.0,
        help="how long a window's job may stay pending or running on a node that no "
        "longer answers before its window is free again (2d)",
    )
    status = commands.add_parser(
        "status",
        parents=[common, nodes],
        help="the last runs and the nodes; exit 5 when none succeeded lately",
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


def _nodes(options: argparse.Namespace) -> list[Node]:
    """--nodes FILE, else --node/--url, else SCRAPYD_URL, else the local Scrapyd; each
    node's credentials checked now (an empty password is a usage error)."""
    try:
        if options.nodes and options.node:
            raise NodeError("give either --nodes FILE or --node URL, not both")
        if options.nodes:
            nodes = from_file(options.nodes)
        else:
            urls = options.node or [os.environ.get("SCRAPYD_URL") or "http://127.0.0.1:6800"]
            nodes = from_urls(urls)
        for node in nodes:
            node.client(options.timeout)
    except NodeError as exc:
        raise UsageError(str(exc)) from None
    return nodes


def probe_all(nodes: list[Node], project: str, timeout: float) -> list[NodeState]:
    """Every node's health and jobs; those that do not answer are reported, not fatal."""
    states = [probe(node.name, node.client(timeout), project) for node in nodes]
    for state in states:
        if not state.healthy:
            print(f"rfi-schedule: node {state.name} skipped: {state.error}", file=sys.stderr)
    skipped = sum(not state.healthy for state in states)
    if skipped and len(states) > 1:
        print(
            f"rfi-schedule: {skipped} of {len(states)} nodes skipped (not answering)",
            file=sys.stderr,
        )
    return states


# -- The state store, opened safely ----------------------------------------------------------


def open_state(config: RfiConfig) -> StateStore:
    """The jobs' state store. As root, a store it creates in a data directory that belongs to
    another user (the service user) is given to that user, so a scheduler run once by root
    never locks the service out."""
    from rfi_crawler.state import open_store, sqlite_path

    path = sqlite_path(config.state_uri)
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


@functools.cache
def holder_name() -> str:
    """This scheduler as the lease's holder: host, pid, and a random tag, since two clones
    of one machine (containers given one ``--hostname``) may share both."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def with_lease(
    store: StateStore, name: str, ttl: float, wait: float, clock: Any = time
) -> str | None:
    """Take the lease ``name`` within ``wait`` seconds; the holder's name, else None."""
    holder = holder_name()
    deadline = clock.monotonic() + wait
    while True:
        # The store's clock: schedulers on hosts whose clocks differ still agree on expiry.
        if store.acquire_lease(name, holder, ttl, store.clock().timestamp(), kind=SCHEDULER_KIND):
            return holder
        if clock.monotonic() >= deadline:
            return None
        clock.sleep(min(0.5, max(0.0, deadline - clock.monotonic())))


# -- Commands -------------------------------------------------------------------------------


def _open_or_fail(config: RfiConfig) -> StateStore | None:
    from rfi_crawler.store_errors import STORE_ERRORS  # sqlite3.Error too: a damaged file

    try:
        return open_state(config)
    except STORE_ERRORS as exc:
        print(f"rfi-schedule: {exc}", file=sys.stderr)
        return None


def run_schedule(options: argparse.Namespace) -> int:
    config = _config(options.setting)
    _check_arguments(options.argument, config)
    nodes = _nodes(options)
    name = f"schedule:{options.project}/{options.spider}"
    return _under_lease(
        config,
        options,
        name,
        _lease_ttl(nodes, options),
        lambda store, held: _schedule_hourly(options, nodes, store, held),
    )


def _lease_ttl(nodes: list[Node], options: argparse.Namespace) -> float:
    """What the calls between two renewals of the scheduler's lease may take: the probes
    (two calls a node) after it is taken; then it is renewed before each further call."""
    return (2 * len(nodes) + 2) * options.timeout + 30


def _under_lease(
    config: RfiConfig,
    options: argparse.Namespace,
    name: str,
    ttl: float,
    work: Callable[[StateStore, SchedulerLease], int],
) -> int:
    """``work`` with the state store open and the lease ``name`` held; OVERLAP when another
    rfi-schedule holds it for ``--wait`` seconds, or takes it after it ran out during the
    pass; FAILED when the store fails."""
    from rfi_crawler.store_errors import STORE_ERRORS  # sqlite3.Error too: a damaged file

    store = _open_or_fail(config)
    if store is None:
        return FAILED
    try:
        holder = with_lease(store, name, ttl=ttl, wait=options.wait)
        if holder is None:
            print(
                f"rfi-schedule: not scheduled: another rfi-schedule held the lease {name} in "
                f"{_store_name(config)} for {options.wait:g}s",
                file=sys.stderr,
            )
            return OVERLAP
        try:
            return work(store, SchedulerLease(store, name, holder, ttl))
        except LeaseLost as exc:
            print(
                f"rfi-schedule: stopped: {exc}; the jobs scheduled before stand",
                file=sys.stderr,
            )
            return OVERLAP
        finally:
            store.release_lease(name, holder)
    except STORE_ERRORS as exc:
        print(f"rfi-schedule: {exc}", file=sys.stderr)
        return FAILED
    finally:
        store.close()


def _schedule_hourly(
    options: argparse.Namespace, nodes: list[Node], store: StateStore, held: SchedulerLease
) -> int:
    states = probe_all(nodes, options.project, options.timeout)
    if not any(state.healthy for state in states):
        print("rfi-schedule: no Scrapyd node answers: nothing scheduled", file=sys.stderr)
        return UNREACHABLE
    busy = hourly_busy(states, store.unfinished_runs(), options.spider, store.clock())
    if busy:
        print(
            f"rfi-schedule: not scheduled: a {options.spider} job of {options.project} is "
            f"already pending or running ({', '.join(busy)}); runs must not overlap",
            file=sys.stderr,
        )
        return OVERLAP
    arguments = [tuple(argument.split("=", 1)) for argument in options.argument]
    for state in pick_order(states, options.spider):
        held.renew()
        try:
            job = state.scrapyd.schedule(
                options.project, options.spider, options.setting, arguments
            )
        except ScrapydError as exc:
            print(f"rfi-schedule: node {state.name} skipped: {exc}", file=sys.stderr)
            continue
        print(job, flush=True)
        if len(nodes) > 1:
            print(f"rfi-schedule: job {job} scheduled on node {state.name}", file=sys.stderr)
        return SCHEDULED
    print("rfi-schedule: no node accepted the job: nothing scheduled", file=sys.stderr)
    return UNREACHABLE


def run_backfill(options: argparse.Namespace) -> int:
    from rfi_crawler.scheduling.backfill import Backfill
    from rfi_crawler.scheduling.windows import split

    config = _config(options.setting)
    try:
        windows = split(options.since, options.until, options.split)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if len(windows) > 1000:
        raise UsageError(f"{len(windows)} windows: at most 1000; use a longer --split")
    nodes = _nodes(options)
    # Its own lease: an hourly scheduler and a backfill do not wait for each other.
    name = f"schedule:{options.project}/backfill"

    def work(store: StateStore, held: SchedulerLease) -> int:
        states = probe_all(nodes, options.project, options.timeout)
        now = store.clock()  # runs are judged by the clock their heartbeats are written by
        backfill = Backfill(store, options.project, options.spider, options.setting)
        return backfill.run(
            windows,
            states,
            all_runs(store),
            retry_failed=options.retry_failed,
            dry_run=options.dry_run,
            window_ttl=options.window_ttl,
            alive=lambda run: run_alive(run, now),
            per_node=options.per_node,
            clock=lambda: store.clock().timestamp(),
            before_call=held.renew,
        )

    return _under_lease(config, options, name, _lease_ttl(nodes, options), work)


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def _records(output_path: str) -> str:
    from rfi_crawler.export.run_file import manifest_path

    try:
        manifest = json.loads(manifest_path(Path(output_path)).read_text(encoding="utf-8"))
        return f"{int(manifest['records'])} records"
    except (OSError, ValueError, KeyError, TypeError, OverflowError):  # 1e999: infinity
        return "records unknown (no manifest)"


# Seconds a run's end may lie after the store's now (clock steps, rounding) and still be
# taken as just ended.
FUTURE_SLACK = 300.0


def run_status(options: argparse.Namespace, now: datetime | None = None) -> int:
    from rfi_crawler.state import sqlite_path
    from rfi_crawler.store_errors import STORE_ERRORS  # sqlite3.Error too: a damaged file

    config = _config(options.setting)
    path = sqlite_path(config.state_uri)
    if path is not None and not path.exists():
        print(f"rfi-schedule status: no state store at {path}: no run yet", file=sys.stderr)
        return STALE
    try:
        store = open_state(config)
        try:
            runs = store.recent_runs(options.runs)
            # The clock runs' ends are written by, whatever this host's says.
            now = now or store.clock()
        finally:
            store.close()
    except STORE_ERRORS as exc:
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
        # A backfill window's success says nothing about the hourly crawl's health.
        hourly = not is_backfill_job(run.job)
        if hourly and run.finish_reason in SUCCESS_REASONS and run.finished_at:
            last_success = last_success or datetime.fromisoformat(run.finished_at)
    unreachable = _status_nodes(options) if (options.node or options.nodes) else 0
    if last_success is None:
        print(f"no successful run among the last {len(runs)}", file=sys.stderr)
        return STALE
    age = (now - last_success).total_seconds()
    if age < -FUTURE_SLACK:
        # Its age cannot be told: an end written by a clock ahead of the store's (a host of
        # an earlier release), or the store's clock set back. Said, not taken as fresh.
        print(
            f"last successful run ended {_age(-age)} after the state store's now"
            f" ({last_success.isoformat()}, now {now.isoformat(timespec='seconds')}): written"
            " by a clock ahead of the store's; its age is unknown",
            file=sys.stderr,
        )
        return STALE
    age = max(age, 0.0)
    line = f"last successful run ended {_age(age)} ago ({last_success.isoformat()})"
    if age > options.max_age:
        print(f"{line}: older than --max-age {_age(options.max_age)}", file=sys.stderr)
        return STALE
    print(line)
    return UNREACHABLE if unreachable else SCHEDULED


def _status_nodes(options: argparse.Namespace) -> int:
    """One line per node (its jobs, or why it does not answer); how many do not answer."""
    states = [
        probe(node.name, node.client(options.timeout), options.project) for node in _nodes(options)
    ]
    print(f"{len(states)} Scrapyd nodes:")
    for state in states:
        if state.healthy:
            running, pending = (len(state.jobs.get(k, [])) for k in ("running", "pending"))
            print(f"  {state.name}  {state.scrapyd.url}  ok: {running} running, {pending} pending")
        else:
            print(f"  {state.name}  {state.scrapyd.url}  NOT ANSWERING: {state.error}")
    down = sum(not state.healthy for state in states)
    if down:
        print(f"{down} of {len(states)} nodes do not answer", file=sys.stderr)
    return down


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # No sub-command means "schedule" (the cron line and timer of earlier releases).
    if not argv or argv[0] not in ("schedule", "backfill", "status", "-h", "--help"):
        argv.insert(0, "schedule")
    try:
        options = _parser().parse_args(argv)
        if options.command == "status":
            return run_status(options)
        if options.command == "backfill":
            return run_backfill(options)
        return run_schedule(options)
    except UsageError as exc:
        print(f"rfi-schedule: {exc}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
