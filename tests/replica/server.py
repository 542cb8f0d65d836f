"""Serves a ``ReplicaSite`` over HTTP on 127.0.0.1, recording every request."""

from __future__ import annotations

import gzip
import re
import socket
import threading
import time
from collections import Counter
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from tests.replica.faults import BOMB_BYTES, ENTITY_BOMB, HANG_SECONDS, TOO_LARGE_BYTES
from tests.replica.site import MISSING_SECTIONS, ReplicaSite

_SECTION_PAGE = re.compile(r"^/cn/([^/]+)/(?:(\d+)/)?$")
_YEAR_PAGE = re.compile(r"^/cn/档案资料库/(\d{4})/$")
# [reported] the part after <DD>- seems ignored by the site: any suffix is the same day.
_DAY_PAGE = re.compile(r"^/cn/档案资料库/(\d{4})/(\d{2})/(\d{2})-[^/]*$")
_MONTHLY = re.compile(r"^/sitemaps/cn/contents_(\d{4})(\d{2})\.xml$")


class ReplicaServer:
    """``with ReplicaServer(site) as server:`` serves on ``server.base_url`` (port 0: any)."""

    def __init__(self, site: ReplicaSite, port: int = 0, host: str = "127.0.0.1") -> None:
        self.site = site
        self.requests: list[str] = []  # unquoted paths, in arrival order
        self.counts: Counter[str] = Counter()
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
            self.counts.clear()

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
        if site.past is not None:
            answer = self.route_past(path)
            if answer is not None:
                return answer
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

    def route_past(self, path: str) -> tuple[int, str, str] | None:
        """The archive's pages and sitemaps; None for any other path."""
        past = self.site.past
        assert past is not None
        xml_type = "application/xml; charset=UTF-8"
        html_type = "text/html; charset=UTF-8"
        source, body, content_type = None, None, html_type
        if match := _YEAR_PAGE.match(path):
            source, body = "year", past.render_year(int(match.group(1)))
        elif match := _DAY_PAGE.match(path):
            source = "day"
            try:
                day = date(*(int(g) for g in match.groups()))
            except ValueError:
                day = None
            body = past.render_day(day) if day else None
        elif path == "/sitemaps/cn/index.xml":
            source, body, content_type = "index", past.render_index(), xml_type
        elif match := _MONTHLY.match(path):
            source, content_type = "monthly", xml_type
            body = past.render_monthly(int(match.group(1)), int(match.group(2)))
        elif path == "/sitemaps/cn/tags.xml":
            source, body, content_type = "index", past.render_tags_sitemap(), xml_type
        elif match := re.fullmatch(r"/cn/tag/([^/]+)/", path):
            items = past.legacy_hub_items(match.group(1))
            url = f"https://www.rfi.fr{quote(path)}"
            return 200, html_type, self.site.render_listing(url, match.group(1), items)
        if source is None:
            return None
        status = past.status.get(source)
        if status:
            return status, "text/html", f"<html><body>{status}</body></html>"
        if body is None:
            return 404, "text/html", "<html><body>404</body></html>"
        return 200, content_type, body

    def fault(self, handler: Any, fault: str, path: str, query: str, seen: int) -> bool:
        """Answer with the fault; False when this request gets the normal page."""
        html_type = "text/html; charset=UTF-8"
        page = self.site.render_article(self.site.by_path[path])
        once = {
            "retry_after_429": (429, {"Retry-After": "1"}),
            "flaky_500": (500, {}),
            "flaky_503": (503, {}),
        }
        if fault in once:
            if seen > 1:
                return False
            status, headers = once[fault]
            handler.reply(status, "text/html", b"<html><body>busy</body></html>", headers)
        elif fault in ("waf_403", "server_error", "gone_404", "gone_410"):
            status = {"waf_403": 403, "server_error": 500, "gone_404": 404, "gone_410": 410}[fault]
            handler.reply(status, "text/html", f"<html><body>{status}</body></html>".encode())
        elif fault == "hang":
            time.sleep(HANG_SECONDS)
            handler.reply(200, html_type, page.encode())
        elif fault == "reset":
            body = page.encode()
            handler.send_response(200)
            handler.send_header("Content-Type", html_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 3])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
        elif fault == "truncated":
            handler.reply(200, html_type, page.encode()[: len(page) // 2])
        elif fault == "no_charset":
            handler.reply(200, "text/html", page.encode())
        elif fault == "gbk_label":
            handler.reply(200, "text/html; charset=GBK", page.encode())
        elif fault == "gb18030_bytes":
            handler.reply(200, html_type, page.encode("gb18030"))
        elif fault == "not_html":
            handler.reply(200, "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40)
        elif fault == "too_large":
            handler.reply(200, html_type, page.encode().ljust(TOO_LARGE_BYTES, b" "))
        elif fault == "binary":
            handler.reply(200, html_type, bytes((i * 7919) % 256 for i in range(60_000)))
        elif fault == "shell":
            shell = self.site.render_listing(self.site.by_path[path].url, "RFI", [])
            handler.reply(200, html_type, shell.encode())
        elif fault == "bad_jsonld":
            broken = re.sub(
                r'(<script type="application/ld\+json">).*?(</script>)',
                r'\1{"@type": "NewsArticle", "headline": "unterminated\2',
                page,
                count=1,
                flags=re.S,
            )
            handler.reply(200, html_type, broken.encode())
        elif fault == "redirect_chain" and query == "final=1":
            return False
        elif fault == "gzip_bomb":
            bomb = gzip.compress(b"<html>" + b" " * BOMB_BYTES, compresslevel=9)
            handler.reply(200, html_type, bomb, {"Content-Encoding": "gzip"})
        elif fault.startswith("redirect_"):
            handler.reply(*self._redirect(fault, path, query))
        return True

    @staticmethod
    def _redirect(fault: str, path: str, query: str) -> tuple[int, str, bytes, dict[str, str]]:
        here = quote(path, safe="/-._~")
        hop = int(query.removeprefix("hop=") or 0) if query.startswith("hop=") or not query else 0
        if fault == "redirect_offsite":
            target = "http://offsite.invalid/cn/elsewhere"
        elif fault == "redirect_other_port":
            target = f"http://127.0.0.1:1{here}"  # the replica's host, another port
        elif fault == "redirect_file":
            target = "file:///etc/passwd"
        elif fault == "redirect_loop":
            target = f"{here}?hop={(hop + 1) % 2}"
        else:
            target = f"{here}?hop={hop + 1}" if hop < 2 else f"{here}?final=1"
        return (301 if hop == 0 else 302), "text/html", b"", {"Location": target}

    def broken_feed(self, fault: str) -> bytes:
        if fault == "malformed":
            return b"<?xml version='1.0'?><rss><channel><item><link>not a url</link><item><ti"
        if fault == "entity_bomb":
            return (
                ENTITY_BOMB + "<rss><channel><item><link>&e;</link></item></channel></rss>"
            ).encode()
        return b"<?xml version='1.0'?><rss><channel>" + b"<item><title>x</title></item>" * 400_000

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = re.sub(r"/{2,}", "/", unquote(parts.path))
                with server._lock:
                    server.requests.append(path)
                    server.counts[path] += 1
                    seen, total = server.counts[path], len(server.requests)
                site = server.site
                delay = site.delays.get(path) or (site.article_delay if path in site.by_path else 0)
                if delay:
                    time.sleep(delay)
                if site.block_after is not None and total > site.block_after:
                    return self.reply(403, "text/html", b"<html><body>Access denied</body></html>")
                fault = site.faults.get(path)
                if fault and server.fault(self, fault, path, parts.query, seen):
                    return None
                if path in site.feed_faults:
                    return self.reply(
                        200, "application/xml", server.broken_feed(site.feed_faults[path])
                    )
                status, content_type, text = server.route(path)
                return self.reply(status, content_type, text.encode("utf-8"))

            def reply(
                self,
                status: int,
                content_type: str,
                body: bytes,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
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
