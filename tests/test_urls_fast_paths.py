"""The fast ways of ``unquote_path`` and ``canonical_content_url`` give what the general
way gives, on every link of the real pages and thousands of mutations of them."""

from __future__ import annotations

import random
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from rfi_crawler import urls

SHARED = Path(__file__).resolve().parents[2] / "shared"
PAGE = "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-x"

# -- the general way, as it was before the fast paths (the reference) ----------------------

_OLD_CANONICAL_FORM = re.compile(r"(?:/(?:[A-Za-z0-9\-._~]|%(?!2F)[0-9A-F]{2})+)+/?")


def old_unquote_path(path: str) -> str | None:
    try:
        path = urls._ESCAPES.sub(urls._decode_escapes, path)
    except (UnicodeDecodeError, ValueError):
        return None
    return urls._SLASHES.sub("/", path) or "/"


def old_site_path(url: str, base_url: str | None) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    host = parts.netloc.lower()
    if host not in urls.SITE_HOSTS and (
        base_url is None or host != urlsplit(base_url).netloc.lower()
    ):
        return None
    return old_unquote_path(parts.path)


def old_link_path(href: str, page_url: str, base_url: str | None) -> str | None:
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    if href.startswith("/") and not href.startswith("//"):
        return old_unquote_path(href.split("#", 1)[0].split("?", 1)[0])
    try:
        absolute = urljoin(page_url, href)
    except ValueError:
        return None
    return old_site_path(absolute, base_url)


def old_canonical_content_url(href, page_url, base_url=None, editions=("cn",)):
    href = href.strip()
    if _OLD_CANONICAL_FORM.fullmatch(href):
        path = old_unquote_path(href)
        ok = path and urls.is_content_path(path, editions)
        return urls.SITE_ORIGIN + href.rstrip("/") if ok else None
    path = old_link_path(href, page_url, base_url)
    if path is None or not urls.is_content_path(path, editions):
        return None
    return urls.SITE_ORIGIN + urls.quote_path(path.rstrip("/"))


# -- the links: real ones, then mutated ------------------------------------------------------


def real_links() -> list[str]:
    found: set[str] = set()
    for folder in ("rfi_pages", "seed_corpus"):
        for path in sorted((SHARED / folder).glob("*")):
            text = path.read_text(encoding="utf-8", errors="replace")
            found.update(re.findall(r'(?:href|src|url)="([^"]{1,600})"', text))
            found.update(re.findall(r"<loc>([^<]{1,600})</loc>", text))
            found.update(re.findall(r"https?://[^\s\"'<>)\]]{1,600}", text))
    return sorted(found)


MUTATIONS = [
    lambda h: h.lower(),
    lambda h: h.upper(),
    lambda h: h + "/",
    lambda h: h + "//",
    lambda h: h.replace("/", "//", 2),
    lambda h: h.replace("%E6", "%e6"),
    lambda h: h.replace("-", "%2D", 1),
    lambda h: h.replace("t", "%74", 1),
    lambda h: h.replace("0", "%30", 1),
    lambda h: h.replace("/", "%2F", 2),
    lambda h: h.replace("/", "%2f", 2),
    lambda h: h.replace("%", "%%", 1),
    lambda h: h + "%",
    lambda h: h + "%E6",
    lambda h: h + "%E6%94",
    lambda h: h + "%FF",
    lambda h: h + "%ED%A0%80",  # an encoded surrogate
    lambda h: h + "%F0%9F%98%80",  # outside the BMP
    lambda h: h + "%zz",
    lambda h: h + "\\x41",
    lambda h: h + "中文",
    lambda h: h + "%E4%B8%AD中",
    lambda h: h + "?a=1#b",
    lambda h: h + "#x",
    lambda h: h + ";p",
    lambda h: h.replace("/cn/", "/cn/./", 1),
    lambda h: h.replace("/cn/", "/cn/%2E%2E/", 1),
    lambda h: h.replace("/cn/", "/cn/%2e/", 1),
    lambda h: h.replace("/cn/", "/tw/", 1),
    lambda h: h.replace("https://www.rfi.fr", "", 1),
    lambda h: h if h.startswith("http") else "https://www.rfi.fr" + h,
    lambda h: h.replace("https://www.rfi.fr", "http://www.rfi.fr", 1),
    lambda h: h.replace("https://www.rfi.fr", "https://WWW.RFI.FR", 1),
    lambda h: h.replace("https://www.rfi.fr", "https://chinese.rfi.fr", 1),
    lambda h: h.replace("https://www.rfi.fr", "https://www.rfi.fr:443", 1),
    lambda h: h.replace("https://www.rfi.fr", "https://www.rfi.fr.evil", 1),
    lambda h: h.replace("https://www.rfi.fr", "http://127.0.0.1:8000", 1),
    lambda h: " " + h + "\n",
    lambda h: h.replace("2025", "２０25", 1),
    lambda h: h[: len(h) // 2],
]


def cases(count: int = 8000) -> list[str]:
    links = real_links()
    # Half of the mutations start from a content link: the fast paths are for those.
    content = [h for h in links if re.search(r"/(?:cn|tw)/.+/\d{8}-", h)]
    chosen = random.Random(13)
    out = list(links)
    while len(out) < count:
        href = chosen.choice(content if chosen.random() < 0.5 else links)
        for _ in range(chosen.randint(1, 3)):
            href = chosen.choice(MUTATIONS)(href)
        out.append(href)
    return out


CASES = cases()


def test_the_cases_exercise_both_ways():
    origin = len(urls.SITE_ORIGIN)
    fast = [h for h in CASES if urls.is_canonical_form(h.strip())]
    absolute = [
        h
        for h in CASES
        if h.strip().startswith(urls.SITE_ORIGIN + "/")
        and urls.is_canonical_form(h.strip()[origin:])
    ]
    content = [h for h in CASES if urls.canonical_content_url(h, PAGE)]
    assert len(real_links()) > 300
    assert len(fast) > 1000 and len(absolute) > 300 and len(content) > 1000


@pytest.mark.parametrize("base_url", [None, "http://127.0.0.1:8000"])
@pytest.mark.parametrize("editions", [("cn",), ("cn", "tw")])
def test_canonical_content_url_is_unchanged(base_url, editions):
    differ = [
        h
        for h in CASES
        if urls.canonical_content_url(h, PAGE, base_url, editions)
        != old_canonical_content_url(h, PAGE, base_url, editions)
    ]
    assert differ == []


def test_unquote_path_is_unchanged():
    paths = CASES + [urlsplit(h).path for h in CASES if "\x00" not in h]
    assert [h for h in paths if urls.unquote_path(h) != old_unquote_path(h)] == []


def test_canonical_form_is_unchanged():
    assert [
        h for h in CASES if urls.is_canonical_form(h) != bool(_OLD_CANONICAL_FORM.fullmatch(h))
    ] == []
