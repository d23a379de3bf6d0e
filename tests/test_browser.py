"""report.html in a real browser (headless Chromium): clicks play the recording from the right time,
loops and keys work, nothing is requested from the network, and the page reads without JavaScript.

The page is rendered from test_formats' record around the real intake of examples/sample.wav (words,
speaker turns, a scream at 2.0 s far from its linked row, a plea at 5.0 s). Skipped, with the reason,
where no Chromium, chromium-driver or selenium is installed; ./install.sh installs them.
"""

from __future__ import annotations

import shutil
import time

import pytest

import browser
from conftest import EXAMPLES
from evidence_audio.report.canonical import seal
from evidence_audio.report.formats import render_folder
from test_formats import full  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))

SEEKS = """const a = document.getElementById('audio'); window.seeks = [];
a.addEventListener('seeking', () => window.seeks.push(a.currentTime));"""


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder / "report.html"


def _with_settings(record, **settings):
    body = {k: v for k, v in record.items() if k != "integrity"}
    provenance = dict(body["provenance"], settings=dict(body["provenance"]["settings"], **settings))
    return seal(dict(body, provenance=provenance))


@pytest.fixture(scope="module")
def page(full, tmp_path_factory):  # noqa: F811
    """The page, with one discontinuity candidate (at 7.25 s) added to the record's indicators."""
    record, samples = full
    body = {k: v for k, v in record.items() if k != "integrity"}
    candidate = {"time": 7.25, "kind": "noise_floor_jump", "detail": "test input"}
    authenticity = {"statement": "Indicators, not verdicts.",
                    "discontinuities": {"indicator": "discontinuities", "summary": "1 candidate",
                                        "can_show": "", "cannot_show": "", "candidates": [candidate]}}
    record = seal(dict(body, analysis=dict(body["analysis"], authenticity=authenticity)))
    return _write(tmp_path_factory.mktemp("page") / "report", render_folder(record, samples, ("html",)))


@pytest.fixture()
def driver():
    driver = browser.open_browser()
    yield driver
    driver.quit()


def _open(driver, path):
    driver.get(browser.page_url(path))
    driver.execute_script(SEEKS)
    # the player has read the copy's header: duration known
    for _ in range(50):
        if driver.execute_script("return document.getElementById('audio').readyState") >= 1:
            return
        time.sleep(0.1)
    raise AssertionError("the audio never loaded")


def _click(driver, css):
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, css)
    # the page may still be following the last click: stop it, then bring the target into view
    driver.execute_script("document.getElementById('audio').pause(); arguments[0].scrollIntoView({block: 'center'})",
                          element)
    time.sleep(0.2)
    seen = len(driver.execute_script("return window.seeks"))
    element.click()
    for _ in range(50):  # 'seeking' is dispatched as a task, after the click returns
        if len(driver.execute_script("return window.seeks")) > seen:
            break
        time.sleep(0.05)
    return driver.execute_script("const a = document.getElementById('audio'); return [window.seeks, a.paused];")


def _plays_from(driver, css, t):
    """Clicking ``css`` seeks the player to ``t`` s (within 0.1 s) and plays."""
    seeks, paused = _click(driver, css)
    assert seeks[-1] == pytest.approx(t, abs=0.1) and paused is False


def test_clicking_an_event_a_word_a_turn_and_a_time_plays_from_there(driver, page):
    _open(driver, page)
    assert driver.execute_script("return document.getElementById('audio').duration") == pytest.approx(30.0, abs=0.05)
    # the scream at 2.0 s: its own time, not the 0.5 s row it links to
    _plays_from(driver, "#event-1 a.t", 2.0)
    # the low-confidence word "şəhər" starts at 0.5 + 4 * 0.6 = 2.9 s
    _plays_from(driver, '.w.low[data-t="2.900"]', 2.9)
    time.sleep(0.3)
    assert driver.execute_script("return document.querySelector('tr.now').id") == "segment-0"
    assert driver.execute_script("return document.querySelector('.w.now').textContent") in ("şəhər", "ölür.")
    # SPEAKER_1's turn 9.0-12.0 s in the timeline figure
    _plays_from(driver, 'a.hit.turn[data-t="9.000"]', 9.0)
    # the suspect segment's time; it stays marked
    _plays_from(driver, "#segment-1 a.t", 5.0)
    time.sleep(0.3)
    assert driver.execute_script("return document.getElementById('segment-1').className") == "suspect now"
    # an indicator time
    _plays_from(driver, "#candidate-1 a.t", 7.25)


def test_keys_and_a_loop_at_three_quarter_speed(driver, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(driver, page)
    body = driver.find_element(By.TAG_NAME, "body")
    _click(driver, '.w[data-t="0.500"]')
    body.send_keys(Keys.SPACE)
    assert driver.execute_script("return document.getElementById('audio').paused") is True
    before = driver.execute_script("return document.getElementById('audio').currentTime")
    body.send_keys(Keys.ARROW_RIGHT)
    assert driver.execute_script("return document.getElementById('audio').currentTime") == pytest.approx(before + 5, abs=0.05)
    body.send_keys(Keys.SPACE)
    assert driver.execute_script("return document.getElementById('audio').paused") is False
    # the segment playing now, in a loop
    _click(driver, '.w[data-t="1.100"]')
    driver.find_element(By.ID, "loop-segment").click()
    assert driver.find_element(By.ID, "loop-from").get_attribute("value") == "0:00.5"
    assert driver.find_element(By.ID, "loop-to").get_attribute("value") == "0:04.1"
    driver.find_element(By.ID, "loop-segment").click()  # off again
    # a range 3.5-4.0 s at 0.75x: it comes back to 3.5 s by itself
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "speed")).select_by_value("0.75")
    for field, value in (("loop-from", "0:03.5"), ("loop-to", "4")):
        driver.find_element(By.ID, field).clear()
        driver.find_element(By.ID, field).send_keys(value)
    driver.execute_script("window.seeks = []")
    driver.find_element(By.ID, "loop-range").click()
    time.sleep(2.0)  # 0.5 s of audio at 0.75x lasts 0.67 s: at least two wraps
    seeks, rate, now, paused = driver.execute_script(
        "const a = document.getElementById('audio'); return [window.seeks, a.playbackRate, a.currentTime, a.paused]")
    assert rate == 0.75 and paused is False
    assert len(seeks) >= 3 and all(s == pytest.approx(3.5, abs=0.01) for s in seeks)
    assert 3.45 <= now <= 4.1


def test_no_request_leaves_the_page(driver, page):
    _open(driver, page)
    _click(driver, "#event-2 a.t")
    time.sleep(0.5)
    urls = browser.requested_urls(driver) + driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(url.startswith(("data:", "file:")) for url in urls), urls
    assert driver.execute_script("return document.getElementById('audio').currentSrc").startswith("data:audio/ogg")


def test_page_reads_as_a_document_without_javascript(page):
    from selenium.webdriver.common.by import By

    driver = browser.open_browser(javascript=False)
    try:
        driver.get(browser.page_url(page))
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "Uşağı döymə!" in text and "Не бейте его" in text and "Listening copy, derived from the evidence" in text
        assert "JavaScript is off" in text
        assert not driver.find_element(By.ID, "controls").is_displayed()  # the loop controls need the script
        assert driver.find_element(By.ID, "audio").is_displayed()  # the browser's own player still plays
        assert driver.find_element(By.CSS_SELECTOR, "#event-1 a.t").get_attribute("href").endswith("#event-1")
    finally:
        driver.quit()


def test_linked_original_plays_from_its_relative_path(driver, full, tmp_path):  # noqa: F811
    record, samples = full
    shutil.copy(EXAMPLES / "sample.wav", tmp_path / "evidence #1.wav")
    linked = _with_settings(record, link_audio="../evidence #1.wav")
    files = render_folder(linked, samples, ("html",))
    assert "listening-copy.opus" not in files
    page = _write(tmp_path / "report", files)
    _open(driver, page)
    assert driver.execute_script("return document.getElementById('audio').currentSrc") \
        == (tmp_path / "evidence #1.wav").as_uri()
    _plays_from(driver, "#event-3 a.t", 6.0)
