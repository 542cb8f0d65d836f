"""The scheduler's Scrapyd client on answers no Scrapyd gives: a trickle, no HTTP at all, a
body cut short. Each is one ScrapydError line, the call bounded by its timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from rfi_crawler.scheduling.scrapyd import Scrapyd, ScrapydError

ANSWER = b'{"status": "ok", "spiders": 2}'


@contextmanager
def answering(reply: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server on a free loopback port that answers every connection with ``reply``."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                with suppress(OSError):  # the client may have gone: its error is the test's
                    reply(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def trickle(connection: socket.socket) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(ANSWER)}\r\n\r\n".encode()
    connection.sendall(head)
    for byte in ANSWER:  # a byte every 0.3 s: each read well within the socket's timeout
        connection.sendall(bytes([byte]))
        time.sleep(0.3)


def not_http(connection: socket.socket) -> None:
    connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")


def cut_short(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + ANSWER[:10])


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (trickle, "took more than 1 s to answer listspiders.json"),
        (not_http, "cannot reach Scrapyd"),
        (cut_short, "non-JSON|cannot reach Scrapyd"),  # a part of an answer is none
    ],
)
def test_an_answer_no_scrapyd_gives_is_one_error(reply, said):
    with answering(reply) as url:
        client = Scrapyd(url, None, None, timeout=1)
        with pytest.raises(ScrapydError, match=said):
            client.call("listspiders.json")
