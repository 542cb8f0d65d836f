"""Scrapy settings for rfi_crawler: only live, non-default values.

The ``RFI_*`` settings are read by ``rfi_crawler.config.RfiConfig``; their defaults live
there and in README.md.
"""

BOT_NAME = "rfi_crawler"
SPIDER_MODULES = ["rfi_crawler.spiders"]
NEWSPIDER_MODULE = "rfi_crawler.spiders"

# -- Politeness towards www.rfi.fr ------------------------------------------------------
ROBOTSTXT_OBEY = True
# Two requests in flight at most, AutoThrottle adapting the delay to the site's latency.
CONCURRENT_REQUESTS = 2
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
# Real pages are 0.5–0.8 MB; anything past 8 MB is not an article.
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
DOWNLOAD_TIMEOUT = 30

# robots.txt read as RFC 9309 says (5xx or unreachable: disallow all), in Scrapy's slot.
# Responses travel from high numbers to low: redirects away from our origin are refused
# before RedirectMiddleware (600) follows them; article bodies are checked after
# HttpCompressionMiddleware (590) decompressed them; 403/429 are backed off and retried
# (Retry-After honoured) nearer the downloader than RetryMiddleware (550), which keeps
# retrying 5xx and timeouts.
DOWNLOADER_MIDDLEWARES = {
    # Scrapy's offsite filter judges hosts alone (another port passes), and drops what it
    # refuses unnamed ("cancelled"): the origin guard judges scheme, host and port, before
    # robots.txt's middleware (100) would fetch another origin's robots.txt.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "rfi_crawler.guards.RequestOriginGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "rfi_crawler.robots.RobotsPolicyMiddleware": 100,
    "rfi_crawler.guards.OriginGuardMiddleware": 650,
    "rfi_crawler.guards.ResponseGuardMiddleware": 580,
    # Scrapy's meta refresh, reading the page's head instead of decoding all of it (and
    # keeping that decoded copy on the response).
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "rfi_crawler.meta_refresh.HeadMetaRefreshMiddleware": 579,
    "rfi_crawler.middlewares.BlockBackoffMiddleware": 560,
    # With RFI_WARC_DIR: nearest the downloader (past HttpCache, 900), so every response is
    # archived as received, before redirects, retries or decompression act on it.
    "rfi_crawler.warc.WarcCaptureMiddleware": 950,
}
# With RFI_WARC_DIR: each record names the WARC record of its page (crawl.warc).
SPIDER_MIDDLEWARES = {"rfi_crawler.warc.WarcLinkMiddleware": 750}
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
# Scrapy's dupefilter, each request's fingerprint kept in 8 bytes rather than ~100: it
# remembers every request of a run, and a backfill makes hundreds of thousands.
DUPEFILTER_CLASS = "rfi_crawler.dupefilter.CompactDupeFilter"
# `scrapy crawl` exits non-zero when a run ends blocked, drifted, unreachable or unable
# to write.
COMMANDS_MODULE = "rfi_crawler.commands"

# The run's own extensions (RUN_EXTENSIONS in rfi_crawler/spiders/rfi_cn.py: the run, its
# ledger, drift, reachability, re-checks, the collector's tuning and the backfill's) are
# added by the spider itself (RfiCnSpider.from_crawler), so an EXTENSIONS of yours keeps them.

# -- Records -----------------------------------------------------------------------------
# Window, then schema, then within-run dedup, then the export that claims versions in the
# state store and writes the crash-safe run file (rfi_crawler/pipelines.py).
ITEM_PIPELINES = {
    "rfi_crawler.pipelines.DateWindowPipeline": 100,
    "rfi_crawler.pipelines.ValidationPipeline": 200,
    "rfi_crawler.pipelines.DuplicateArticlePipeline": 300,
    "rfi_crawler.pipelines.ExportPipeline": 800,
}
# A page yields one record at most, and Scrapy starts this many tasks for every response's
# output, used or not: 100 (its default) cost ~0.5 ms a page, 16 a tenth of that.
CONCURRENT_ITEMS = 16
# Chinese stays readable in the JSON Lines output.
FEED_EXPORT_ENCODING = "utf-8"
# A local -o/-O file whose writes fail mid-run is said once and exits 5, not a traceback a
# record (rfi_crawler/feed_storage.py).
FEED_STORAGES = {
    "": "rfi_crawler.feed_storage.GuardedFileFeedStorage",
    "file": "rfi_crawler.feed_storage.GuardedFileFeedStorage",
}

# -- Logs ----------------------------------------------------------------------------------
# INFO: progress, the run's summary and every problem; DEBUG (per-request lines) on demand.
LOG_LEVEL = "INFO"
