"""The Scrapyd nodes to schedule on: ``--node URL`` (repeated) or a TOML file (``--nodes``).

A nodes file lists each node's URL and, optionally, its name, user name and the name of the
environment variable that holds its password: passwords never sit in the file, on the
command line or in a URL, so they never reach ``ps``, a log or a unit file.

    [[node]]
    name = "lab"                          # optional; default host:port
    url = "http://10.0.0.5:6800"
    [[node]]
    name = "vm"
    url = "https://vm.example.org:6800"
    username = "rfi"                      # optional; default SCRAPYD_USERNAME
    password_env = "SCRAPYD_PASSWORD_VM"  # optional; default SCRAPYD_PASSWORD
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rfi_crawler.scheduling.scrapyd import Scrapyd

NODE_KEYS = ("name", "url", "username", "password_env")


class NodeError(ValueError):
    """A bad node list: one line, exit status 2."""


@dataclass(frozen=True)
class Node:
    name: str
    url: str
    username: str | None
    password_env: str

    def client(self, timeout: float) -> Scrapyd:
        username, password = credentials(self.username, self.password_env)
        return Scrapyd(self.url, username, password, timeout)


def check_url(url: str, where: str) -> str:
    refused = NodeError(f"{where} {url!r} is not accepted: expected http(s)://host:port")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (read to check it: "abc" or 99999 raise ValueError)
    except ValueError:
        raise refused from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused
    if parts.username is not None or parts.password is not None:
        # A password in a URL ends up in ps, shell history and logs.
        raise NodeError(
            f"{where}: credentials in the URL are not accepted; use SCRAPYD_USERNAME and "
            "SCRAPYD_PASSWORD (or password_env in a nodes file)"
        )
    return url.rstrip("/")


def _default_name(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def from_urls(urls: list[str]) -> list[Node]:
    checked = [check_url(url, "--node") for url in urls]  # before a name is made of it
    nodes = [Node(_default_name(url), url, None, "SCRAPYD_PASSWORD") for url in checked]
    return _unique(nodes)


def from_file(path: Path) -> list[Node]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NodeError(f"--nodes {path}: cannot read it ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NodeError(f"--nodes {path}: not TOML ({exc})") from None
    entries = data.get("node")
    if set(data) != {"node"} or not isinstance(entries, list) or not entries:
        raise NodeError(f"--nodes {path}: expected one or more [[node]] tables and nothing else")
    nodes = []
    for number, entry in enumerate(entries, 1):
        where = f"--nodes {path}, node {number}"
        if not isinstance(entry, dict):
            raise NodeError(f"{where}: expected a [[node]] table, not {entry!r}")
        unknown = sorted(set(entry) - set(NODE_KEYS))
        if unknown:
            raise NodeError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(NODE_KEYS)})")
        if not all(isinstance(entry.get(key, ""), str) for key in NODE_KEYS):
            raise NodeError(f"{where}: every value must be a string")
        url = check_url(entry.get("url", ""), f"{where}: url")
        name = entry.get("name") or _default_name(url)
        if not re.fullmatch(r"[\w.:-]{1,64}", name):
            raise NodeError(f"{where}: name {name!r} is not accepted: letters, digits, . _ : -")
        password_env = entry.get("password_env") or "SCRAPYD_PASSWORD"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", password_env):
            raise NodeError(f"{where}: password_env must name an environment variable")
        nodes.append(Node(name, url, entry.get("username") or None, password_env))
    return _unique(nodes)


def _unique(nodes: list[Node]) -> list[Node]:
    seen: set[str] = set()
    for node in nodes:
        if node.name in seen or node.url in seen:
            raise NodeError(f"node {node.name} ({node.url}) is listed twice")
        seen |= {node.name, node.url}
    return nodes


def credentials(username: str | None, password_env: str) -> tuple[str | None, str | None]:
    """An empty password would make Scrapyd run without authentication: refused."""
    username = username or os.environ.get("SCRAPYD_USERNAME") or None
    password = os.environ.get(password_env)
    if (username or password is not None) and not password:
        raise NodeError(
            f"{password_env} is empty: refusing to schedule (Scrapyd would run without "
            "authentication); set a password, e.g. openssl rand -hex 16"
        )
    return username, password
