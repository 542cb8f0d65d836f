"""Gaps found by the review of issues 10 and 11: each test fails on the defect it names."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from rfi_crawler import urls
from rfi_crawler.archive import ArchiveError, read_archive
from tests.test_archive_import import archive_text


# Issue 10 item 12, for links found in pages: the `urls` argument resolved its dot segments,
# but a related link `/cn/%2e%2e/%2e%2e/20251130-x` on a hostile page became the record URL
# `https://www.rfi.fr/cn/../../20251130-x` and was requested as `/20251130-x`.
@pytest.mark.parametrize(
    "href",
    [
        "/cn/%2e%2e/%2e%2e/20251130-x",
        "/cn/%2E%2E/中国/20251130-x",
        "/cn/../../20251130-x",
        "/cn/a/../20251130-x",
        "/cn/中国/./20251130-x",
        "https://www.rfi.fr/cn/%2e/中国/20251130-x",
    ],
)
def test_a_link_with_dot_segments_is_no_content_url(href):
    assert urls.canonical_content_url(href, "https://www.rfi.fr/cn/", None) is None
    assert urls.archive_item_url(href, "https://www.rfi.fr/cn/", None) is None


# Issue 10 item 13: "a truncated archive file is reported, not imported as a complete
# record". The existing test cut the file so short that the schema check failed anyway; a
# file cut mid-body still has a valid record's worth of text and must be refused for itself.
def test_an_archive_file_cut_mid_body_is_reported_as_cut(tmp_path):
    text = archive_text("<p>完整的一段</p><p>被截断的第二段</p>")
    path = tmp_path / "cut.md"
    path.write_text(text[: text.index("被截断") + 2] + "\n", encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"cut\.md:5: the HTML line is cut short"):
        read_archive(path)


# Issue 10 items 8 and 16: the units' hardening and the oneshot's start timeout were only in
# the files, untested.
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "User": "scrapyd",
}


def unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return parser["Service"]


def covered(path: str, writable: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in writable)


@pytest.mark.parametrize("name", ["rfi-scrapyd.service", "rfi-schedule.service"])
def test_the_units_are_hardened_and_write_only_their_folders(name):
    service = unit(name)
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{name}: {key}"
    writable = service["ReadWritePaths"].split()
    created = (DEPLOY / "install-service").read_text(encoding="utf-8")
    for path in writable:
        assert f"$root{path}" in created, f"{name}: {path} is not created by install-service"
    # Whatever the service writes lies inside its writable paths.
    if name == "rfi-scrapyd.service":
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(DEPLOY / "scrapyd.conf")
        dirs = [v for k, v in conf["scrapyd"].items() if k.endswith("_dir")]
        assert dirs and all(covered(d, writable) for d in dirs), dirs
    else:
        data_dir = re.search(r"RFI_DATA_DIR=(\S+)", service["ExecStart"]).group(1)
        assert covered(data_dir, writable)


def test_the_scheduler_oneshot_has_a_finite_start_timeout():
    service = unit("rfi-schedule.service")
    assert service["Type"] == "oneshot"
    timeout = re.fullmatch(r"(\d+)(s|min)?", service["TimeoutStartSec"])
    assert timeout, service["TimeoutStartSec"]  # not infinity, not 0 (which means none)
    seconds = int(timeout.group(1)) * (60 if timeout.group(2) == "min" else 1)
    assert 0 < seconds <= 3600
