"""Serves a ``ReplicaSite`` over HTTP on 127.0.0.1, recording every request."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from tests.replica.site import MISSING_SECTIONS, ReplicaSite

_SECTION_PAGE = re.compile(r"^/cn/([^/]+)/(?:(\d+)/)?$")


class ReplicaServer:
    """``with ReplicaServer(site) as server:`` serves on ``server.base_url`` (port 0: any)."""

    def __init__(self, site: ReplicaSite, port: int = 0, host: str = "127.0.0.1") -> None:
        self.site = site
        self.requests: list[str] = []  # unquoted paths, in arrival order
        self._lock = threading.Lock()
        self.httpd = _QuietServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ReplicaServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requested(self) -> Counter[str]:
        with self._lock:
            return Counter(self.requests)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def route(self, path: str) -> tuple[int, str, str]:
        """(status, content type, body) for an unquoted, slash-collapsed path."""
        site = self.site
        html_type = "text/html; charset=UTF-8"
        if path == "/robots.txt":
            return 200, "text/plain", site.robots_txt()
        if path == "/cn/":
            return 200, html_type, site.render_homepage()
        if path == "/cn/rss":
            return 200, "application/rss+xml; charset=UTF-8", site.render_rss()
        if path == "/sitemaps/cn/news.xml":
            return 200, "application/xml; charset=UTF-8", site.render_sitemap()
        article = site.by_path.get(path)
        if article is not None:
            return 200, html_type, site.render_article(article)
        hub = re.fullmatch(r"/cn/关键词/([^/]+)/", path)
        if hub:
            items = site.hub_items(hub.group(1))
            return (
                200,
                html_type,
                site.render_listing(f"https://www.rfi.fr{path}", hub.group(1), items),
            )
        if path.startswith("/cn/作者/"):
            return 200, html_type, site.render_listing(f"https://www.rfi.fr{path}", "作者", [])
        section = _SECTION_PAGE.match(path)
        if section:
            name, page = section.group(1), int(section.group(2) or 1)
            if name in MISSING_SECTIONS:
                status = MISSING_SECTIONS[name]
                return status, "text/html", f"<html><body>{status}</body></html>"
            body = site.render_section(name, page)
            if body is not None:
                return 200, html_type, body
        return 404, "text/html", "<html><body>404</body></html>"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = re.sub(r"/{2,}", "/", unquote(urlsplit(self.path).path))
                with server._lock:
                    server.requests.append(path)
                delay = server.site.delays.get(path) or (
                    server.site.article_delay if path in server.site.by_path else 0
                )
                if delay:
                    time.sleep(delay)
                status, content_type, text = server.route(path)
                body = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # the request log is ``server.requests``

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """A crawler killed mid-response is expected here, not an error worth a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
