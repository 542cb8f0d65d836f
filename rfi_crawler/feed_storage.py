"""Local ``-o``/``-O`` files whose writes fail mid-run (a disk that fills): said once a
file, and the run exits 5.

Scrapy's feed exporter writes each item from an ``item_scraped`` handler. A write that
fails there is logged with a traceback, item after item; the item is then not offered to
the run's other feeds; and the run exits 0 if the file can still be closed at the end (the
disk freed meanwhile): a feed cut in its middle, taken as whole. Here the first failed
write is one ERROR line, the feed takes no further write (after a cut line, later lines
would read as records), and storing it at the end fails, so that Scrapy counts it
(``feedexport/failed_count/…``) and the run exits 5 (rfi_crawler/commands/crawl.py).
Other feeds, and the run file, go on. A feed split in batches (``FEED_EXPORT_BATCH_ITEM_COUNT``)
is a file a batch, each guarded, and said, on its own.
"""

from __future__ import annotations

import contextlib
import logging
from typing import IO, TYPE_CHECKING, Any

from scrapy.extensions.feedexport import FileFeedStorage

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class GuardedFileFeedStorage(FileFeedStorage):
    """Scrapy's local file storage (``FEED_STORAGES`` for ``""`` and ``file``), guarded."""

    def __init__(
        self, uri: str, *, feed_options: dict[str, Any] | None = None, crawler: Crawler
    ) -> None:
        super().__init__(uri, feed_options=feed_options)
        self.crawler = crawler

    @classmethod
    def from_crawler(
        cls, crawler: Crawler, uri: str, *, feed_options: dict[str, Any] | None = None
    ) -> GuardedFileFeedStorage:
        return cls(uri, feed_options=feed_options, crawler=crawler)

    def open(self, spider: Spider) -> IO[bytes]:
        return GuardedFile(super().open(spider), self)  # type: ignore[return-value]

    def store(self, file: IO[bytes]) -> None:
        if isinstance(file, GuardedFile) and file.error is not None:
            file.close_quietly()
            raise OSError(
                f"{self.path}: cut at its first failed write ({file.error}); "
                f"{file.dropped} later writes not made"
            )
        super().store(file)

    def write_failed(self, error: OSError) -> None:
        # Not under rfi/failed/: those are the outcomes of URLs.
        self.crawler.stats.inc_value("rfi/feed/write_failed")
        logger.error(
            "-o/-O file %s: cannot write (%s): the file is cut here and takes no further"
            " record; this run will exit 5. The run file in RFI_OUTPUT_DIR is written apart",
            self.path,
            error,
        )


class GuardedFile:
    """A feed file whose first failed write or flush is reported, then every later one
    dropped (and counted) rather than raised into Scrapy's signal handler."""

    def __init__(self, file: IO[bytes], storage: GuardedFileFeedStorage) -> None:
        self._file = file
        self._storage = storage
        self.error: OSError | None = None
        self.dropped = 0

    def write(self, data: Any) -> int:
        if self.error is None:
            try:
                return self._file.write(data)
            except OSError as exc:
                self._failed(exc)
        else:
            self.dropped += 1
        return len(data)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._file.flush()
            except OSError as exc:
                self._failed(exc)

    def close_quietly(self) -> None:
        """Close the file, whose buffered rest cannot be written either."""
        with contextlib.suppress(OSError):
            self._file.close()

    def _failed(self, exc: OSError) -> None:
        self.error = exc
        self._storage.write_failed(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)
