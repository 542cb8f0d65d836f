"""rfi-dataset serve in a real browser: headless Chromium (Debian's chromium and
chromium-driver) searches, opens an article, follows a related one, opens a canned query."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_explorer import Served, containing, corpus, seed_jsonl  # noqa: F401 (fixtures)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT = 120  # seconds; generous, the machine's cores are shared


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    missing = [
        name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path
    ]
    if missing:
        reason = f"{' and '.join(missing)} not installed (bash scripts/setup installs them as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser test: {reason}")
        pytest.skip(reason)
    if os.environ.get("CI") != "true":
        pytest.importorskip("selenium.webdriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--lang=zh-CN",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(corpus) -> Iterator[Served]:  # noqa: F811
    server = Served(corpus[0])
    yield server
    server.stop()


def shoot(driver, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot into the test's folder (and $EXPLORER_SHOTS_DIR if set)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height) + 100, 6000)))
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    if os.environ.get("EXPLORER_SHOTS_DIR"):
        target = Path(os.environ["EXPLORER_SHOTS_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path


def no_horizontal_overflow(driver) -> bool:
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1"
    )


def test_search_read_follow_and_count_in_chromium(browser, served, corpus, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    db, records = corpus
    driver = browser
    wait = WebDriverWait(driver, WAIT)
    expected = containing(records, "台湾")
    assert len(expected) > 2

    # 1. The search query: type 台湾, run it, count the hits.
    driver.get(served.base + "/rfi/search")
    box = wait.until(until.presence_of_element_located((By.CSS_SELECTOR, "input[name='q']")))
    box.clear()
    box.send_keys("台湾")
    driver.find_element(By.CSS_SELECTOR, "form.sql input[type='submit']").click()
    rows = wait.until(
        until.presence_of_all_elements_located((By.CSS_SELECTOR, "table.rows-and-columns tbody tr"))
    )
    assert len(rows) == len(expected)
    counts = {td.text for td in driver.find_elements(By.CSS_SELECTOR, "td.col-hits")}
    assert counts == {str(len(expected))}
    assert no_horizontal_overflow(driver)
    shoot(driver, tmp_path, "1-search-台湾")

    # 2. Open a hit that has a related article inside the dataset.
    conn = sqlite3.connect(db)
    ids = ",".join(td.text for td in driver.find_elements(By.CSS_SELECTOR, "td.col-article_id"))
    source, title, target, target_title = conn.execute(
        "SELECT a.article_id, a.title, t.article_id, t.title FROM related r"
        " JOIN articles a ON a.article_id = r.from_article_id"
        " JOIN articles t ON t.article_id = r.to_article_id"
        f" WHERE a.article_id IN ({ids}) ORDER BY a.article_id, r.position LIMIT 1"
    ).fetchone()
    body = conn.execute("SELECT body FROM articles WHERE article_id = ?", (source,)).fetchone()[0]
    internal = conn.execute(
        "SELECT count(*) FROM related WHERE from_article_id = ? AND to_article_id IS NOT NULL",
        (source,),
    ).fetchone()[0]
    conn.close()
    driver.find_element(By.CSS_SELECTOR, f"td.col-title a[href$='/rfi/articles/{source}']").click()
    heading = wait.until(until.presence_of_element_located((By.CSS_SELECTOR, "h1.rfi-title")))
    assert heading.text == title
    paragraphs = driver.find_elements(By.CSS_SELECTOR, ".rfi-body p, .rfi-body h3")
    assert len(paragraphs) == len([b for b in body.split("\n\n") if b.strip()]) > 1
    assert all(p.size["width"] <= 46 * 18 for p in paragraphs)  # a readable measure
    assert no_horizontal_overflow(driver)
    shoot(driver, tmp_path, "2-article")

    # 3. Its related articles are listed; follow one inside the dataset.
    links = driver.find_elements(By.CSS_SELECTOR, ".rfi-related a.rfi-internal")
    assert len(links) == internal
    driver.find_element(
        By.CSS_SELECTOR, f".rfi-related a.rfi-internal[href$='/rfi/articles/{target}']"
    ).click()
    wait.until(until.text_to_be_present_in_element((By.CSS_SELECTOR, "h1.rfi-title"), target_title))
    back = driver.find_elements(By.CSS_SELECTOR, ".rfi-linking a.rfi-internal")
    assert any(a.get_attribute("href").endswith(f"/rfi/articles/{source}") for a in back)
    shoot(driver, tmp_path, "3-related")

    # 4. Articles per month by section: a table.
    driver.get(served.base + "/rfi/articles_per_month")
    rows = wait.until(
        until.presence_of_all_elements_located((By.CSS_SELECTOR, "table.rows-and-columns tbody tr"))
    )
    months = {r["published_at"][:7] for r in records}
    assert {td.text for td in driver.find_elements(By.CSS_SELECTOR, "td.col-month")} == months
    assert len(rows) >= len(months)
    assert no_horizontal_overflow(driver)
    shoot(driver, tmp_path, "4-per-month")

    # 5. Datasette's own search box on the articles table (three characters or more).
    driver.get(served.base + "/rfi/articles")
    box = wait.until(until.presence_of_element_located((By.CSS_SELECTOR, "input#_search")))
    unfiltered = driver.find_element(By.CSS_SELECTOR, "table.rows-and-columns")
    box.send_keys("俄罗斯")
    box.submit()
    wait.until(until.staleness_of(unfiltered))  # the results page, not the table before it
    rows = wait.until(
        until.presence_of_all_elements_located((By.CSS_SELECTOR, "table.rows-and-columns tbody tr"))
    )
    assert len(rows) == len(containing(records, "俄罗斯")) > 0
    assert no_horizontal_overflow(driver)  # wide tables scroll inside their wrapper
    shoot(driver, tmp_path, "5-articles-search")
