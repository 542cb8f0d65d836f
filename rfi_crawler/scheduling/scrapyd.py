"""Scrapyd's JSON API, and one node's health and jobs as the scheduler sees them."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

# Scrapyd's answers are a few KB (listjobs of a busy node: hundreds of KB).
MAX_ANSWER = 16 * 1024 * 1024
READ_PIECE = 1 << 16


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
                answer = json.loads(self._body(response, endpoint).decode("utf-8"))
        except HTTPError as exc:
            hint = " (check SCRAPYD_USERNAME / SCRAPYD_PASSWORD)" if exc.code == 401 else ""
            raise ScrapydError(
                f"Scrapyd at {self.url} answered HTTP {exc.code} to {endpoint}{hint}"
            ) from exc
        except (URLError, OSError, HTTPException) as exc:  # HTTPException: no HTTP, or cut
            raise ScrapydError(f"cannot reach Scrapyd at {self.url}: {exc!r}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ScrapydError(f"Scrapyd at {self.url} answered {endpoint} with non-JSON") from exc
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message", answer) if isinstance(answer, dict) else answer
            raise ScrapydError(f"Scrapyd refused {endpoint}: {message}")
        return answer

    def _body(self, response: Any, endpoint: str) -> bytes:
        """The answer, read in the time a call is given (the socket's timeout bounds each
        read alone: a byte every half second would hold a call, and the scheduler's
        lease, for minutes) and up to MAX_ANSWER bytes."""
        deadline, pieces, size = time.monotonic() + self.timeout, [], 0
        while piece := response.read1(READ_PIECE):
            pieces.append(piece)
            size += len(piece)
            if size > MAX_ANSWER:
                raise ScrapydError(
                    f"Scrapyd at {self.url} answered {endpoint} with over {MAX_ANSWER} bytes"
                )
            if time.monotonic() > deadline:
                raise ScrapydError(
                    f"Scrapyd at {self.url} took more than {self.timeout:g} s to answer {endpoint}"
                )
        return b"".join(pieces)

    def schedule(
        self,
        project: str,
        spider: str,
        settings: list[str],
        arguments: list[tuple[str, str]],
        jobid: str | None = None,
    ) -> str:
        form = [("project", project), ("spider", spider)]
        form += [("setting", setting) for setting in settings]
        form += arguments
        if jobid:
            form.append(("jobid", jobid))
        answer = self.call("schedule.json", form=form)
        job = answer.get("jobid")
        if not isinstance(job, str) or not job:
            raise ScrapydError(f"Scrapyd at {self.url} answered schedule.json without a jobid")
        return job


@dataclass
class NodeState:
    """One node at one moment: healthy (it answered both calls) or why not."""

    name: str
    scrapyd: Scrapyd
    error: str | None = None
    load: int = 0  # running + pending jobs of every project (daemonstatus.json)
    jobs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # listjobs.json

    @property
    def healthy(self) -> bool:
        return self.error is None

    def active(self, spider: str) -> list[dict[str, Any]]:
        """This project's pending and running jobs of ``spider``."""
        return [
            job
            for state in ("pending", "running")
            for job in self.jobs.get(state, [])
            if isinstance(job, dict) and job.get("spider") == spider
        ]

    def finished(self, spider: str) -> list[dict[str, Any]]:
        return [
            job
            for job in self.jobs.get("finished", [])
            if isinstance(job, dict) and job.get("spider") == spider
        ]


def probe(name: str, scrapyd: Scrapyd, project: str) -> NodeState:
    """Ask a node how it is (daemonstatus.json) and what it runs (listjobs.json)."""
    state = NodeState(name, scrapyd)
    try:
        status = scrapyd.call("daemonstatus.json")
        state.load = _int(status.get("running")) + _int(status.get("pending"))
        jobs = scrapyd.call("listjobs.json", {"project": project})
        state.jobs = {k: v for k, v in jobs.items() if isinstance(v, list)}
    except ScrapydError as exc:
        state.error = str(exc)
    return state


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
