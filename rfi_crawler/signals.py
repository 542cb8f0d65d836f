"""The crawl's own signals: how the spider and middlewares tell the extensions what happened."""

from __future__ import annotations

# A content URL entered the run (arg: url). Every one ends in one ``url_settled``.
url_met = object()
# A content URL's outcome (args: url, outcome), e.g. "failed/not_html", "skipped/known".
url_settled = object()
# The ledger recorded a URL's final outcome (args: url, outcome), once per URL, whoever
# settled it (the spider, a middleware, a pipeline's drop, the export): the archive's
# days wait for these.
url_outcome = object()
# An article page was parsed (args: url, record: dict | None, current: bool). ``current``
# is False for pages of an older template, which drift does not judge.
page_extracted = object()
# A start point (a listing, feed, sitemap or a ``urls`` page) answered 2xx (arg: url).
start_answered = object()
# The run opened the state store (arg: store), before any request.
store_opened = object()
# A start point failed for good (args: url, reason such as "dns", "connection", "http_403").
start_failed = object()
# The state store failed mid-run (arg: error): the run stops with ``state_error``.
store_failed = object()
# An article was recorded removed or restored (arg: event, the run file's event line).
article_event = object()
# An optional source of pages (a request's ``meta["rfi_source"]``, e.g. the archive's day
# pages) answered RFI_BLOCK_THRESHOLD blocks in a row (arg: source); the run goes on
# without it unless every source is blocked.
source_blocked = object()
