"""Short, stable names for why a request failed (stats, logs, outcomes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as twisted_errors

from rfi_crawler.guards import Rejected

if TYPE_CHECKING:
    from twisted.python.failure import Failure


def failure_reason(failure: Failure) -> str:
    """``http_404``, ``http_5xx``, ``robots``, ``redirect_loop``, ``offsite_redirect``,
    ``timeout``, ``dns``, ``connection``, ``data_loss`` (connection cut mid-body),
    ``too_large``, a guard's reason (``not_html``, ``binary``, ``truncated``), or the
    exception's name."""
    if failure.check(Rejected):
        return failure.value.reason
    if failure.check(HttpError):
        status = failure.value.response.status
        return "http_5xx" if 500 <= status < 600 else f"http_{status}"
    if failure.check(IgnoreRequest):
        message = str(failure.value)
        if "robots.txt" in message:
            return "robots"
        if "redirections" in message:
            return "redirect_loop"
        if "DOWNLOAD_MAXSIZE" in message:  # a body past the limit once decompressed
            return "too_large"
        return "offsite_redirect" if "offsite" in message else "ignored"
    if failure.check(CannotResolveHostError, twisted_errors.DNSLookupError):
        return "dns"
    if failure.check(
        DownloadTimeoutError,
        twisted_errors.TimeoutError,
        twisted_errors.TCPTimedOutError,
        TimeoutError,
    ):
        return "timeout"
    if failure.check(ResponseDataLossError):
        return "data_loss"
    if failure.check(DownloadCancelledError):
        return "too_large" if "max" in str(failure.value).lower() else "cancelled"
    if failure.check(
        DownloadConnectionRefusedError,
        DownloadFailedError,
        twisted_errors.ConnectError,
        twisted_errors.ConnectionLost,
        ConnectionError,
    ):
        return "connection"
    return failure.type.__name__.lower() if failure.type else "error"
