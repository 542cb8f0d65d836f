"""A body is checked for a charset in pieces (``encoding.decodes``): the same verdict as
decoding it whole."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rfi_crawler.encoding import CHUNK, decodes

PAGE = (
    Path(__file__).resolve().parents[2] / "shared" / "rfi_pages" / "article_20251130_zhengzhi.html"
)


def whole(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def bodies() -> list[bytes]:
    real = PAGE.read_bytes()
    text = real.decode("utf-8")
    gb = text.encode("gb18030")
    out = [b"", b"<html></html>", real, real[:-1], real[: CHUNK + 1], gb, gb[:-1]]
    # A multi-byte character cut by each piece boundary, whole or broken.
    for width, char in ((2, "é"), (3, "中"), (4, "😀")):
        for shift in range(1, width):
            pad = b"a" * (CHUNK - shift)
            encoded = char.encode("utf-8")
            out += [pad + encoded + b"b", pad + encoded[:-1] + b"b", pad + encoded[:-1]]
            gb_char = char.encode("gb18030")
            out += [pad + gb_char + b"b", pad + gb_char[:-1] + b"b"]
            # A character cut by an all-ASCII piece: no piece may be skipped while one is
            # pending, though the bytes on either side would join into a valid one.
            for encoded_char in (encoded, gb_char):
                head, rest = encoded_char[:shift], encoded_char[shift:]
                out.append(pad + head + b"a" * CHUNK + rest + b"b")
    chosen = random.Random(3)
    for _ in range(150):
        body = bytearray(chosen.choice((real, gb)))
        for _ in range(chosen.randint(1, 3)):
            at = chosen.choice((chosen.randrange(len(body)), CHUNK * chosen.randint(1, 8)))
            at = min(at, len(body) - 1)
            body[at] = chosen.randrange(256)
        out.append(bytes(body[: chosen.choice((len(body), chosen.randrange(len(body))))]))
    return out


BODIES = bodies()


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "no-such-charset"])
def test_pieces_give_the_verdict_of_the_whole(encoding):
    verdicts = [whole(body, encoding) for body in BODIES]
    assert [decodes(body, encoding) for body in BODIES] == verdicts
    if encoding != "no-such-charset":
        assert True in verdicts and False in verdicts  # both verdicts are exercised


def test_a_part_of_a_body_gets_the_verdict_of_that_part_alone():
    """``start`` and ``end`` as a slice reads them, pieces counted from ``start``."""
    chosen = random.Random(11)
    for body in BODIES[:40]:
        for _ in range(8):
            start, end = sorted(chosen.randrange(len(body) + 2) for _ in range(2))
            assert decodes(body, "utf-8", start, end) == whole(body[start:end], "utf-8")
