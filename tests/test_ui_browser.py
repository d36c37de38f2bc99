"""End to end in a real browser: `hpcdl train --ui`, headless Chromium watches the scoring-history chart grow.

Needs Debian's chromium + chromium-driver and the selenium package; skipped (with the reason) without them.
The screenshot lands in pytest's tmp_path and, if HPCDL_ARTIFACT_DIR is set, is copied there as ui.png.
"""

import os
import shutil
import tempfile
import time

import pytest
from test_ui import start_live_training, write_live_job

CHROMIUM = os.environ.get("HPCDL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HPCDL_CHROMEDRIVER", "/usr/bin/chromedriver")


def _browser(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} not found (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,1900",
    ):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def _points(driver) -> int:
    return int(
        driver.execute_script("const c = document.getElementById('history-chart'); return c ? +c.dataset.points : 0;")
        or 0
    )


def _wait(driver, predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_live_page_in_headless_chromium(tmp_path):
    driver = _browser(tmp_path)
    proc = None
    try:
        proc, url = start_live_training(write_live_job(tmp_path, epochs=4000))
        driver.get(url)
        _wait(driver, lambda: "#/job/" in driver.current_url, 20, "the live job page")
        first = _wait(driver, lambda: _points(driver) >= 2 and _points(driver), 60, "two points on the chart")
        # the page polls: the chart grows without a reload while the job runs
        _wait(driver, lambda: _points(driver) > first, 30, "the chart to grow")
        n = _points(driver)
        circles = driver.execute_script("return document.querySelectorAll('#history-chart circle.train').length")
        assert circles >= n >= 2  # training points drawn (a later poll may have added more)
        assert driver.execute_script("return document.querySelectorAll('#history-chart circle.valid').length") >= 2
        status = driver.execute_script("return document.querySelector('h1 .badge').textContent")
        assert status == "running"
        stats = driver.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('.stat')].map("
            "s => [s.querySelector('.label').textContent, s.querySelector('.value').textContent]))"
        )
        assert stats["ranks × threads"] == "1 × 1"
        assert int(stats["samples / s"].replace(",", "")) > 0
        assert stats["ETA"] not in ("–", "")
        assert driver.execute_script("return document.querySelectorAll('#varimp .bar').length") == 7
        assert driver.execute_script("return document.querySelectorAll('table.cm').length") == 2  # train + valid
        shot = tmp_path / "ui.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("HPCDL_ARTIFACT_DIR"):
            os.makedirs(os.environ["HPCDL_ARTIFACT_DIR"], exist_ok=True)
            shutil.copy(shot, os.path.join(os.environ["HPCDL_ARTIFACT_DIR"], "ui.png"))
        logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not logs, logs  # no script errors, no blocked loads
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        driver.quit()
