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

from rfi_crawler.meta_refresh import HEAD_BYTES, HeadMetaRefreshMiddleware, page_head

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


# Pieces of a random head: refreshes, what hides or moves them, characters of 1 to 4 bytes.
HEAD_PIECES = [
    REFRESH.format(delay=0, target="/cn/a"),
    '<meta http-equiv="Refresh" content="1;URL=\'/x\'">',
    REFRESH.format(delay=500, target="/slow"),
    '<base href="https://www.rfi.fr/fr/">',
    '<meta charset="gbk">',
    '<meta http-equiv="Content-Type" content="text/html; charset=big5">',
    *("<!--", "-->", "<script>", "</script>", "<noscript>", "</noscript>", "<title>"),
    *("标", "𠀀", "é", "a", " ", "\n", "<", ">", '"', "&amp;", "&#x3c;", "\u00a0", "\ufeff"),
]
LABELS = ["utf-8", "gb18030", "gbk", "big5", "utf-16", "utf-32", "latin-1", "shift_jis", "bogus"]


def random_page(draw: random.Random) -> tuple[bytes, dict[str, str]]:
    """A page cut or not, its head a random run of ``HEAD_PIECES`` somewhere around the
    4,096th character, in one encoding, labelled with it, another or none."""
    encoding = draw.choice(["utf-8", "gb18030", "big5", "utf-16", "utf-32", "shift_jis"])
    filler = "标" * draw.randint(0, 9000)
    at = draw.randint(0, len(filler))
    head = "".join(draw.choice(HEAD_PIECES) for _ in range(draw.randint(5, 200)))
    text = f"<html><head>{filler[:at]}{head}{filler[at:]}</head><body>"
    text += "<p>正文𠀀</p>" * draw.randint(0, 5000) + "</body></html>"
    label = draw.choice([*LABELS, encoding, encoding, None])
    headers = {"Content-Type": "text/html" + (f"; charset={label}" if label else "")}
    return text.encode(encoding, errors="xmlcharrefreplace"), headers


def test_random_pages_get_the_same_decision_as_scrapy():
    """Refreshes hidden, split by the cut, past the scanned characters, in other charsets
    than labelled: the same request, or the same response, as Scrapy's middleware."""
    draw = random.Random(17)
    scrapy_mw, head_mw = middlewares()
    redirected = cut = 0
    for _ in range(400):
        body, headers = random_page(draw)
        theirs, ours = (HtmlResponse(URL, body=body, headers=headers) for _ in range(2))
        expected = outcome(scrapy_mw.process_response(Request(URL), theirs), theirs)
        assert outcome(head_mw.process_response(Request(URL), ours), ours) == expected
        redirected += expected[0] == "request"
        cut += len(body) > HEAD_BYTES and page_head(ours) is not None
    assert redirected > 50 and cut > 100  # both decisions, on heads we judged ourselves


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
