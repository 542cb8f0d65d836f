"""Bad settings, spider arguments and output paths stop a crawl before any request, in one
line naming what was given and what is accepted; README and config agree on defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scrapy.settings import Settings

from rfi_crawler.arguments import SpiderArguments
from rfi_crawler.backfill_run import BackfillExtension
from rfi_crawler.config import (
    REAL_ORIGIN,
    SETTINGS,
    ConfigError,
    RfiConfig,
    default_data_dir,
    defaults,
)
from rfi_crawler.preflight import (
    check_crawl,
    check_folders,
    check_origin,
    check_run_enabled,
    prepare_feed_folders,
)
from tests.crawling import PROJECT_ROOT, plain_crawl, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

DURATIONS = ("RFI_STATE_TIMEOUT", "RFI_FSYNC_SECONDS", "RFI_BACKOFF_BASE", "RFI_BACKOFF_MAX")


def config(**values: object) -> RfiConfig:
    return RfiConfig.from_settings(Settings(values))


def refused(**values: object) -> str:
    with pytest.raises(ConfigError) as caught:
        config(**values)
    return str(caught.value)


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "abc", "", "3601", "1e400"])
def test_every_duration_is_finite_positive_and_bounded(name, value):
    message = refused(**{name: value})
    assert message.startswith(f"{name}={value!r} is not accepted: expected a number of seconds")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("RFI_BACKOFF_BASE", "abc", "a number of seconds, above 0 and at most 3600"),
        ("RFI_MAX_LISTING_PAGES", "three", "a whole number from 1 to 10000"),
        ("RFI_MAX_LISTING_PAGES", "2.5", "a whole number from 1 to 10000"),
        ("RFI_MAX_LISTING_PAGES", "0", "a whole number from 1 to 10000"),
        ("RFI_REFRESH_DAYS", "-1", "a whole number from 0 to 36500"),
        ("RFI_RECHECK_SCHEDULE", "6h,1h", "ages such as 1h,6h,1d,7d, or off"),
        ("RFI_RECHECK_SCHEDULE", "1w", "ages such as 1h,6h,1d,7d, or off"),
        ("RFI_RECHECK_MAX_PER_RUN", "-1", "a whole number from 0 to 1000000"),
        ("RFI_RECHECK_NOW", "2026-11-20", "an ISO 8601 time with its offset"),
        ("RFI_RECHECK_NOW", "soon", "an ISO 8601 time with its offset"),
        ("RFI_FSYNC_EVERY", "0", "a whole number from 1 to 1000000"),
        ("RFI_BLOCK_THRESHOLD", "", "a whole number from 1 to 1000000"),
        ("RFI_BACKOFF_RETRIES", "-1", "a whole number from 0 to 100"),
        ("RFI_DRIFT_MIN_PAGES", "0", "a whole number from 1 to 1000000"),
        ("RFI_DRIFT_THRESHOLD", "nan", "a share, at least 0 and at most 1"),
        ("RFI_DRIFT_THRESHOLD", "1.5", "a share, at least 0 and at most 1"),
        ("RFI_FOLLOW_TAGS", "maybe", "1 or 0 (or true/false)"),
        ("RFI_REFRESH", "2", "1 or 0 (or true/false)"),
        ("RFI_START_POINTS", "", "a comma-separated list of homepage, sections, rss, sitemap"),
        ("RFI_START_POINTS", ",,", "a comma-separated list of homepage, sections, rss, sitemap"),
        ("RFI_START_POINTS", "homepage,archive", "a comma-separated list of homepage"),
        ("RFI_OUTPUT_COMPRESSION", "zip", "empty (plain .jsonl) or gzip"),
        ("RFI_CONTACT", "me@x.org\r\nX-Evil: 1", "an email or URL on one line"),
        ("RFI_BASE_URL", "www.rfi.fr", "an origin such as https://www.rfi.fr"),
        ("RFI_BASE_URL", "https://www.rfi.fr/cn/", "an origin such as https://www.rfi.fr"),
        ("RFI_BASE_URL", "http://127.0.0.1:99999", "an origin such as https://www.rfi.fr"),
        ("RFI_BASE_URL", "http://u:p@127.0.0.1:8000", "an origin (scheme, host, port) without"),
    ],
)
def test_a_bad_value_is_named_with_what_is_accepted(name, value, accepted):
    message = refused(**{name: value})
    assert message.startswith(f"{name}={value!r} is not accepted: expected {accepted}")


def test_rules_between_settings_name_both():
    message = refused(RFI_BACKOFF_BASE="600", RFI_BACKOFF_MAX="300")
    assert "RFI_BACKOFF_BASE=600 is above RFI_BACKOFF_MAX=300" in message


def test_good_values_are_read():
    read = config(
        RFI_BACKOFF_BASE="0.1",
        RFI_STATE_TIMEOUT=3600,
        RFI_START_POINTS=["rss", "rss", " sitemap"],
        RFI_REFRESH="yes",
        RFI_OUTPUT_COMPRESSION="GZIP",
    )
    assert read.backoff_base == 0.1 and read.state_timeout == 3600
    assert read.start_points == ("rss", "sitemap")
    assert read.refresh is True and read.output_compression == "gzip"


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("RFI_MAX_LISTNG_PAGES", "RFI_MAX_LISTING_PAGES"),
        ("RFI_BACKOF_BASE", "RFI_BACKOFF_BASE"),
        ("RFI_STATE_TIMOUT", "RFI_STATE_TIMEOUT"),
        ("RFI_REFRESH_DAY", "RFI_REFRESH_DAYS"),
    ],
)
def test_an_unknown_setting_names_the_closest_known_one(typo, meant):
    assert refused(**{typo: "3"}) == f"unknown setting {typo}: did you mean {meant}?"


def test_an_unknown_setting_without_a_close_name_lists_the_known_ones():
    message = refused(RFI_ZZZ="1")
    assert message == f"unknown setting RFI_ZZZ: known: {', '.join(sorted(SETTINGS))}"


def args(**kwargs: str) -> SpiderArguments:
    return SpiderArguments.from_kwargs(kwargs, REAL_ORIGIN)


def args_refused(**kwargs: str) -> str:
    with pytest.raises(ConfigError) as caught:
        args(**kwargs)
    return str(caught.value)


def test_unknown_and_private_arguments_are_refused():
    assert args_refused(sinse="2025-11-01") == "unknown spider argument sinse: did you mean since?"
    assert args_refused(related="1").startswith("unknown spider argument related: did you mean")
    assert args_refused(_drift_reported="1").startswith("unknown spider argument _drift_report")
    assert args(_job="abc123", _version="r1", since="2025-11-01").window.since is not None


@pytest.mark.parametrize(
    ("kwargs", "start"),
    [
        ({"since": "2025-13-45"}, "since='2025-13-45' is not accepted: expected a date YYYY-MM-DD"),
        ({"until": "20251101"}, "until='20251101' is not accepted: expected a date YYYY-MM-DD"),
        ({"since": ""}, "since='' is not accepted"),
        ({"related_depth": "two"}, "related_depth='two' is not accepted: expected a whole"),
        ({"related_depth": "-1"}, "related_depth='-1' is not accepted"),
        ({"related_depth": ""}, "related_depth='' is not accepted"),
        ({"refresh": "perhaps"}, "refresh='perhaps' is not accepted: expected 1 or 0"),
        ({"urls": ""}, "urls='' is not accepted: not RFI Chinese content URLs: none given"),
        ({"urls": ",,,"}, "urls=',,,' is not accepted: not RFI Chinese content URLs: none given"),
        ({"urls": "/cn/%2e%2e/%2e%2e/20251130-x"}, "urls='/cn/%2e%2e/%2e%2e/20251130-x' is not"),
        ({"urls": "/cn/%2E%2E/%2E%2E/20251130-x"}, "urls='/cn/%2E%2E/%2E%2E/20251130-x' is not"),
        ({"urls": "/cn/a/./../20251130-x"}, "urls='/cn/a/./../20251130-x' is not accepted"),
        ({"since": "2025-12-01", "until": "2025-11-01"}, "since='2025-12-01' is after until"),
    ],
)
def test_bad_arguments_are_one_clear_line(kwargs, start):
    message = args_refused(**kwargs)
    assert message.startswith(start), message
    assert "\n" not in message


def test_dot_segments_are_resolved_before_the_content_rule():
    resolved = args(urls="/cn/%2e%2e/cn/x/../中国/20251129-y, /cn/中国/./20251128-z")
    assert resolved.urls == (
        "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20251129-y",
        "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20251128-z",
    )


def test_the_real_origin_keeps_its_data_dir_and_others_get_their_own():
    real = RfiConfig()
    assert real.data_dir == default_data_dir() == default_data_dir("https://www.rfi.fr/")
    replica = config(RFI_BASE_URL="http://127.0.0.1:8000")
    assert replica.data_dir == real.data_dir / "origins" / "http-127.0.0.1-8000"
    assert replica.output_dir == replica.data_dir / "output"
    assert replica.state_uri == f"sqlite:///{replica.data_dir / 'state.sqlite3'}"
    other_port = config(RFI_BASE_URL="http://127.0.0.1:8001")
    assert other_port.data_dir != replica.data_dir
    # An explicit RFI_DATA_DIR is used as given, whatever the origin.
    assert config(RFI_BASE_URL="http://127.0.0.1:8000", RFI_DATA_DIR="/srv/x").data_dir == Path(
        "/srv/x"
    )


def test_an_output_folder_of_another_origin_is_refused(tmp_path):
    output = tmp_path / "output"
    output.mkdir()
    old = {"settings": {"base_url": "https://www.rfi.fr"}}  # a manifest of an earlier release
    (output / "rfi_cn-20261101T000000Z-a.manifest.json").write_text(json.dumps(old))
    replica = RfiConfig(base_url="http://127.0.0.1:8000", data_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"holds records of https://www\.rfi\.fr"):
        check_origin(replica)
    check_origin(RfiConfig(data_dir=tmp_path))  # the same origin is fine
    newer = {"origin": "http://127.0.0.1:8000", "settings": {}}
    (output / "rfi_cn-20261102T000000Z-b.manifest.json").write_text(json.dumps(newer))
    check_origin(replica)
    # One origin however it was typed: the state folder and the dataset tools agree.
    check_origin(RfiConfig(base_url="HTTP://127.0.0.1:8000/", data_dir=tmp_path))


def test_data_folders_are_created_or_refused_in_one_line(tmp_path):
    check_folders(RfiConfig(data_dir=tmp_path / "new"))
    assert (tmp_path / "new" / "output").is_dir()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match=r"^RFI_DATA_DIR='.*a-file/sub' is not accepted: cannot"):
        check_folders(RfiConfig(data_dir=tmp_path / "a-file" / "sub"))


def test_output_folders_are_created_or_refused_in_one_line(tmp_path):
    target = tmp_path / "missing" / "dir" / "x.jsonl"
    prepare_feed_folders(Settings({"FEEDS": {str(target): {"format": "jsonlines"}}}))
    assert target.parent.is_dir()
    (tmp_path / "a-file").write_text("")
    blocked = tmp_path / "a-file" / "sub" / "x.jsonl"
    with pytest.raises(ConfigError, match=r"^-o .*x\.jsonl: cannot create its folder"):
        prepare_feed_folders(Settings({"FEEDS": {str(blocked): {"format": "jsonlines"}}}))
    prepare_feed_folders(Settings({"FEEDS": {"s3://bucket/x.jsonl": {"format": "jsonlines"}}}))


def readme_settings_rows() -> dict[str, str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(RFI_[A-Z_]+)` \| [^|]+ \| ([^|]+) \|", readme, re.MULTILINE)
    return dict(rows)


# Defaults derived from other settings: the README describes them rather than writes them.
DERIVED = {"RFI_DATA_DIR", "RFI_STATE_URI", "RFI_OUTPUT_DIR"}


def shown(value: object) -> str:
    if isinstance(value, bool):
        return f"`{value}`"
    if isinstance(value, (int, float)):
        return f"`{value:g}`"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    return f"`{value}`" if value else '`""`'


def test_readme_states_each_default_as_config_writes_it():
    rows = readme_settings_rows()
    assert set(rows) >= set(SETTINGS), f"settings without a README row: {set(SETTINGS) - set(rows)}"
    for name, default in defaults().items():
        if name not in DERIVED:
            assert rows[name].strip().startswith(shown(default)), (name, rows[name])


EXTENSIONS_WITHOUT_BACKFILL = 'EXTENSIONS={"rfi_crawler.backfill_run.BackfillExtension": null}'


def test_a_backfill_needs_its_extension_and_an_hourly_crawl_does_not():
    off = Settings({"EXTENSIONS": {BackfillExtension: None}})
    check_run_enabled(off)  # not a backfill: off, as it would be anyway
    with pytest.raises(ConfigError) as caught:
        check_run_enabled(off, backfill=True)
    assert str(caught.value) == (
        "EXTENSIONS is not accepted: it disables rfi_crawler.backfill_run.BackfillExtension,"
        " which a backfill needs (archive=1: its plan, its days done)"
    )
    # The backfill spider implies archive=1.
    with pytest.raises(ConfigError, match=r"disables rfi_crawler\.backfill_run\.BackfillExt"):
        check_crawl(off, {"since": "2024-01-01", "until": "2024-01-31"}, backfill=True)


@pytest.mark.parametrize("key", ["os.environ", "scrapy.settings.default_settings.EXTENSIONS_BASE"])
def test_a_disabled_key_that_loads_no_class_is_scrapys_to_judge(key):
    """Scrapy drops a ``None`` entry whatever it names; the check must not stop on one
    whose object cannot be hashed."""
    check_run_enabled(Settings({"EXTENSIONS": {key: None}}), backfill=True)


def test_a_bad_setting_stops_scrapy_crawl_before_any_request(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    with ReplicaServer(site) as server:
        cases = [
            ["-s", "RFI_BACKOFF_BASE=abc"],
            ["-s", "RFI_MAX_LISTNG_PAGES=3"],
            ["-a", "sinse=2025-11-01"],
            ["-a", "_drift_reported=1"],
            ["-a", "urls=,,,"],
            ["-s", "RFI_START_POINTS="],
            ["-s", "RFI_STATE_URI=mysql://crawler:s3cret@db/rfi"],  # its password unshown
            ["-s", 'EXTENSIONS={"rfi_crawler.run.CrawlRun": null}'],
            # A backfill without the extension that plans it would request nothing.
            ["-a", "archive=1", "-a", "since=2024-01-01", "-s", EXTENSIONS_WITHOUT_BACKFILL],
        ]
        for extra in cases:
            done = plain_crawl(server.base_url, tmp_path / "data", *extra)
            assert done.returncode == 2, (extra, done.stderr[-2000:])
            errors = [line for line in done.stderr.splitlines() if "is not accepted" in line]
            errors += [line for line in done.stderr.splitlines() if "unknown " in line]
            assert len(errors) == 1 and errors[0].startswith("scrapy crawl rfi_cn: "), done.stderr
            assert extra[1].split("=")[0] in errors[0]
            assert "Traceback" not in done.stderr and "never retrieved" not in done.stderr
            assert "s3cret" not in done.stderr
        assert sum(server.requested().values()) == 0


def test_o_into_a_missing_folder_creates_it(tmp_path):
    site = ReplicaSite(articles=40, seed=3)
    target = tmp_path / "missing" / "dir" / "x.jsonl"
    with ReplicaServer(site) as server:
        article = site.articles[2]
        result = run_crawl(
            server.base_url,
            tmp_path / "work",
            args={"urls": article.path, "related_depth": "0"},
            settings={"FEEDS": json.dumps({str(target): {"format": "jsonlines"}})},
        )
    assert result.returncode == 0, result.log[-3000:]
    assert [json.loads(line)["url"] for line in target.read_text().splitlines()] == [article.url]
    assert result.records[0]["crawl"]["origin"] == server.base_url
