"""Schedule one ``rfi_cn`` job on Scrapyd, unless one is already pending or running.

    rfi-schedule [--url http://127.0.0.1:6800] [-s NAME=VALUE ...] [-a NAME=VALUE ...]

Scrapyd has no cron: call this from cron or a systemd timer. Credentials come from the
environment (``SCRAPYD_USERNAME``, ``SCRAPYD_PASSWORD``), the URL from ``--url`` or
``SCRAPYD_URL``. Prints the new job id. Exit status: 0 scheduled; 3 refused because a job
is already pending or running (the overlap guard); 2 Scrapyd unreachable or refusing.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

SCHEDULED, FAILED, OVERLAP = 0, 2, 3


class ScrapydError(RuntimeError):
    """Scrapyd could not be reached, refused the call, or answered with an error."""


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
        except json.JSONDecodeError as exc:
            raise ScrapydError(f"Scrapyd at {self.url} answered {endpoint} with non-JSON") from exc
        if answer.get("status") != "ok":
            raise ScrapydError(f"Scrapyd refused {endpoint}: {answer.get('message', answer)}")
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


def _pair(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rfi-schedule",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=os.environ.get("SCRAPYD_URL", "http://127.0.0.1:6800"))
    parser.add_argument("--project", default="rfi_crawler")
    parser.add_argument("--spider", default="rfi_cn")
    parser.add_argument(
        "-s",
        "--setting",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=VALUE",
        help="a Scrapy setting for the job",
    )
    parser.add_argument(
        "-a",
        "--argument",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=VALUE",
        help="a spider argument for the job",
    )
    parser.add_argument("--timeout", type=float, default=30.0)
    options = parser.parse_args(argv)
    scrapyd = Scrapyd(
        options.url,
        os.environ.get("SCRAPYD_USERNAME"),
        os.environ.get("SCRAPYD_PASSWORD"),
        options.timeout,
    )
    # Two schedulers on this machine (cron and a hand-run one) check and schedule in turn.
    lock_path = Path(tempfile.gettempdir()) / f"rfi-schedule-{options.project}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            status, message = schedule(
                scrapyd, options.project, options.spider, options.setting, options.argument
            )
        except ScrapydError as exc:
            print(f"rfi-schedule: {exc}", file=sys.stderr)
            return FAILED
    print(message, file=sys.stdout if status == SCHEDULED else sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
