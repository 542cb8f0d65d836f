"""Switchable faults of the replica: what a hostile or broken site does to a crawler.

``ReplicaSite.faults`` maps an article path to one of ``ARTICLE_FAULTS``; each names the
outcome a correct crawl gives that URL (``exported`` when the crawler must recover).
"""

from __future__ import annotations

ARTICLE_FAULTS = {
    # WAF and blocks
    "waf_403": "failed/http_403",
    "retry_after_429": "exported",  # 429 with Retry-After once, then the page
    # server errors
    "flaky_500": "exported",  # 500 once, then the page (retried)
    "flaky_503": "exported",
    "server_error": "failed/http_5xx",  # 500 every time
    # transport
    "hang": "failed/timeout",  # answers after the download timeout
    "reset": "failed/data_loss",  # connection cut mid-body
    "truncated": "failed/truncated",  # a complete response holding half a page
    # bodies
    "gbk_label": "exported",  # UTF-8 bytes labelled GBK
    "gb18030_bytes": "exported",  # GB18030 bytes labelled UTF-8
    "no_charset": "exported",  # no charset in Content-Type: the page's <meta charset> tells
    "not_html": "failed/not_html",
    "too_large": "failed/too_large",
    "gzip_bomb": "failed/too_large",  # 10 kB of gzip that inflates past DOWNLOAD_MAXSIZE
    "binary": "failed/binary",
    "shell": "failed/no_article",  # the platform's page shell, no article in it
    "bad_jsonld": "exported",  # ld+json that is not JSON: other sources take over
    # redirects
    "redirect_chain": "exported",  # 301 → 302 → 302 → the page
    "redirect_loop": "failed/redirect_loop",
    "redirect_offsite": "failed/offsite_redirect",
    "redirect_other_port": "failed/offsite_redirect",  # same host, another port
    "redirect_file": "failed/offsite_redirect",  # Location: file:///etc/passwd
    # removed
    "gone_404": "failed/http_404",
    "gone_410": "failed/http_410",
}
FEED_FAULTS = ("malformed", "entity_bomb", "huge")
HANG_SECONDS = 4.0
TOO_LARGE_BYTES = 3 * 1024 * 1024
BOMB_BYTES = 16 * 1024 * 1024  # inflated size of the gzip bomb
ENTITY_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{a}">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>'
).format(a="x" * 100)


def fails(fault: str | None) -> bool:
    """Whether a page with this fault yields no record."""
    return fault is not None and ARTICLE_FAULTS[fault] != "exported"
