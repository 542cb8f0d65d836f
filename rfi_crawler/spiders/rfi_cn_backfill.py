"""The ``rfi_cn_backfill`` spider: ``rfi_cn`` with ``archive=1`` implied, a job kind of its own."""

from __future__ import annotations

from typing import ClassVar

from rfi_crawler.spiders.rfi_cn import RfiCnSpider


class RfiCnBackfillSpider(RfiCnSpider):
    """Same arguments (``since`` required, ``until`` defaulting to today in Paris) and
    settings as ``rfi_cn -a archive=1``; the name lets Scrapyd's ``listjobs`` and the
    scheduler's overlap guard tell a backfill from the hourly crawl."""

    name = "rfi_cn_backfill"
    backfill: ClassVar[bool] = True
