"""``CompactDupeFilter``: Scrapy's request dupefilter, its fingerprints kept as 64-bit keys.

Scope: this run (as Scrapy's). The filter remembers every request of the crawl, so it
grows with it: Scrapy's keeps each 20-byte fingerprint as a bytes object in a set (~100
bytes a request), this one 8 bytes of it in a ``HashSet`` (~10). With ``JOBDIR`` Scrapy's
own behaviour is kept whole (it persists its fingerprints in a file of its own format).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.dupefilters import RFPDupeFilter

from rfi_crawler.compact import HashSet, hash64

if TYPE_CHECKING:
    from scrapy import Request


class CompactDupeFilter(RFPDupeFilter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen = HashSet()

    def request_seen(self, request: Request) -> bool:
        if self.file:  # JOBDIR
            return super().request_seen(request)
        # Hashed again: REQUEST_FINGERPRINTER_CLASS may give any bytes, not only SHA-1's.
        key = hash64(self.fingerprinter.fingerprint(request))
        if self.seen.has_key(key):
            return True
        self.seen.add_key(key)
        return False
