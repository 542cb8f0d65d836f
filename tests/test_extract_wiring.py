"""The spider hands the crawl's stats to extraction: an invalid content id is counted there."""

from __future__ import annotations

import json

from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from rfi_crawler.items import ArticleItem
from rfi_crawler.outcomes import RECORD_YIELDED
from rfi_crawler.spiders.rfi_cn import RfiCnSpider

URL = "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20251130-x"


def test_the_spider_counts_an_invalid_content_id_and_uses_the_url_id():
    crawler = get_crawler(RfiCnSpider, settings_dict={"RFI_CONTACT": "test@example.org"})
    crawler.stats.open_spider()
    crawler.spider = RfiCnSpider.from_crawler(crawler)
    crawler.spider.spider_opened()
    layer = json.dumps({"content_id": "../../../../tmp/x"})
    html = (
        f'<html><head><link rel="canonical" href="{URL}"><script id="datalayer">{layer}</script>'
        '</head><body><article data-article-content><h1 class="t-content__title">标题</h1>'
        '<div class="t-content__body"><p>正文</p></div></article></body></html>'
    )
    response = HtmlResponse(url=URL, body=html.encode(), encoding="utf-8", request=Request(URL))
    (item,) = [o for o in crawler.spider.parse_article(response, URL) if isinstance(o, ArticleItem)]
    assert item.id.startswith("RFI-URL-")
    assert crawler.stats.get_value("rfi/extract/invalid_content_id") == 1
    # The ledger learns from it that the page's outcome comes with its record's.
    assert response.meta[RECORD_YIELDED] is True
