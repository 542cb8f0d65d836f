"""HeadMetaRefreshMiddleware (rfi_crawler/meta_refresh.py) decides exactly as Scrapy's
MetaRefreshMiddleware does, without decoding the whole page."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import scrapy.http.response.text
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse, Request, Response, TextResponse
from scrapy.utils.test import get_crawler

from rfi_crawler.meta_refresh import HEAD_BYTES, HeadMetaRefreshMiddleware

PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "rfi_pages"
URL = "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-x"
REFRESH = '<meta http-equiv="refresh" content="{delay}; url={target}">'


def middlewares():
    crawler = get_crawler(settings_dict={"METAREFRESH_MAXDELAY": 100})
    return MetaRefreshMiddleware.from_crawler(crawler), HeadMetaRefreshMiddleware.from_crawler(
        crawler
    )


def page(prefix: str = "", filler: int = 0, head: str = "", charset: str = "utf-8") -> str:
    """An HTML page: ``prefix`` first, then ``head`` after ``filler`` Chinese characters
    (3 bytes each in UTF-8), then a large body so that the page is cut."""
    return (
        f'{prefix}<html><head><meta charset="{charset}"><title>{"标" * filler}</title>'
        f"{head}</head><body>{'<p>正文𠀀</p>' * 20000}</body></html>"
    )


def outcome(result: Response | Request, response: Response):
    if isinstance(result, Request):
        return ("request", result.url, result.method, dict(result.headers), result.meta)
    return ("response", result is response)


CASES = {
    "no refresh": page(),
    "refresh": page(head=REFRESH.format(delay=0, target="/cn/other")),
    "absolute target": page(head=REFRESH.format(delay=1, target="https://www.rfi.fr/cn/")),
    "with base": page(
        head='<base href="https://www.rfi.fr/fr/">' + REFRESH.format(delay=0, target="page")
    ),
    "too slow": page(head=REFRESH.format(delay=500, target="/cn/slow")),
    "in script": page(head="<script>" + REFRESH.format(delay=0, target="/x") + "</script>"),
    "in noscript": page(head="<noscript>" + REFRESH.format(delay=0, target="/x") + "</noscript>"),
    "ends at 4096 characters": page(filler=4096 - 120, head=REFRESH.format(delay=0, target="/y")),
    "just past 4096 characters": page(filler=4096, head=REFRESH.format(delay=0, target="/y")),
    "other scheme": page(head=REFRESH.format(delay=0, target="ftp://example.org/")),
    "bom": page(prefix="\ufeff", head=REFRESH.format(delay=0, target="/bom")),
}
ENCODINGS = ["utf-8", "gb18030", "utf-16", "utf-32", "big5"]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("case", list(CASES))
def test_the_same_decision_as_scrapy(case, encoding):
    text = CASES[case].replace('charset="utf-8"', f'charset="{encoding}"')
    body = text.encode(encoding, errors="xmlcharrefreplace")
    assert len(body) > HEAD_BYTES  # the page is cut
    scrapy_mw, head_mw = middlewares()
    headers = {"Content-Type": f"text/html; charset={encoding}"}
    undeclared = body.replace(f'<meta charset="{encoding}">'.encode(encoding), b"")
    # Declared in the header, only in the page, or nowhere (Scrapy infers it from the body).
    for header, page_body in ((headers, body), ({}, body), ({}, undeclared)):
        theirs = HtmlResponse(URL, body=page_body, headers=header, request=Request(URL))
        ours = HtmlResponse(URL, body=page_body, headers=header, request=Request(URL))
        expected = outcome(scrapy_mw.process_response(Request(URL), theirs), theirs)
        assert outcome(head_mw.process_response(Request(URL), ours), ours) == expected


def test_an_encoding_scrapy_infers_is_left_to_scrapy():
    """No charset anywhere and bytes no detector accepts: Scrapy decodes the whole body
    as ASCII (U+FFFD for the rest); a head decoded by that name would read cp1252."""
    draw = random.Random(1)
    noise = bytes(draw.randrange(256) for _ in range(40000))
    head = '<html><head><meta http-equiv="refresh" content="0; url=/cn/café"></head>'
    body = head.encode("latin-1") + noise
    scrapy_mw, head_mw = middlewares()
    theirs, ours = (HtmlResponse(URL, body=body, request=Request(URL)) for _ in range(2))
    expected = outcome(scrapy_mw.process_response(Request(URL), theirs), theirs)
    assert outcome(head_mw.process_response(Request(URL), ours), ours) == expected


def test_a_refresh_is_followed_and_named():
    _, head_mw = middlewares()
    body = CASES["refresh"].encode()
    result = head_mw.process_response(Request(URL), HtmlResponse(URL, body=body))
    assert isinstance(result, Request)
    assert result.url == "https://www.rfi.fr/cn/other"
    assert result.meta["redirect_reasons"] == ["meta refresh"]


@pytest.mark.parametrize("name", ["article_20251130_zhengzhi.html", "homepage_20251130.html"])
def test_real_pages_are_not_decoded_whole(name, monkeypatch):
    body = (PAGES / name).read_bytes()
    decoded: list[int] = []
    real = scrapy.http.response.text.html_to_unicode

    def counting(content_type, data, *args, **kwargs):
        decoded.append(len(data))
        return real(content_type, data, *args, **kwargs)

    monkeypatch.setattr(scrapy.http.response.text, "html_to_unicode", counting)
    scrapy_mw, head_mw = middlewares()
    headers = {"Content-Type": "text/html; charset=utf-8"}
    ours = HtmlResponse(URL, body=body, headers=headers)
    assert head_mw.process_response(Request(URL), ours) is ours
    assert decoded and max(decoded) <= HEAD_BYTES
    theirs = HtmlResponse(URL, body=body, headers=headers)
    assert scrapy_mw.process_response(Request(URL), theirs) is theirs
    assert max(decoded) == len(body)  # what Scrapy's does


def test_short_bodies_and_other_responses_go_to_scrapy_as_they_are():
    _, head_mw = middlewares()
    short = HtmlResponse(URL, body=b'<meta http-equiv="refresh" content="0; url=/z">')
    assert head_mw.process_response(Request(URL), short).url == "https://www.rfi.fr/z"
    plain = TextResponse(URL, body=CASES["refresh"].encode(), encoding="utf-8")
    assert head_mw.process_response(Request(URL), plain) is plain
