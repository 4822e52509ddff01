"""The advisor's console in a real headless Chromium (Debian's chromium and chromium-driver, driven
by Selenium): the seed's scenario from sign-in to a consent change, a webhook that shows up while
the page is open without a reload, and axe-core finding no serious or critical violation. The
screenshots in docs/ (shown in the README) are this test's."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.conftest import REQUIRE_SERVICES
from tests.sse import serving

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "e2e" / "vendor" / "axe-core" / "axe.min.js"
DOCS = ROOT / "docs"
INBOUND_SMS = (ROOT / "tests" / "fixtures" / "twilio" / "inbound_sms.form").read_text().strip()
CHROMIUM = os.environ.get("CROSSVIEW_CHROMIUM", "chromium")
CHROMEDRIVER = os.environ.get("CROSSVIEW_CHROMEDRIVER", "chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    binary, driver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if not (binary and driver):
        missing = "chromium and chromium-driver (apt-get install chromium chromium-driver; scripts/services.sh up)"
        if REQUIRE_SERVICES:
            pytest.fail(f"the browser tests need {missing}")
        pytest.skip(f"needs {missing}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1100"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    chrome.set_page_load_timeout(30)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[str, str]]:
    app = create_app(lambda: embedded(Settings(insecure_skip_signatures=True)))
    with serving(app) as base:
        yield base, app.state.crossview.demo.fabien


# A live page replaces its parts as changes arrive: an element read mid-swap, or one not yet ready
# for a click (a button the page is re-enabling), is found again; the action it raised on did nothing.
MID_SWAP = (StaleElementReferenceException, ElementNotInteractableException, ElementClickInterceptedException)


def wait(browser: WebDriver, condition, what: str, timeout_s: float = 10):
    return WebDriverWait(browser, timeout_s, ignored_exceptions=MID_SWAP).until(lambda b: condition(b), message=what)


def act(browser: WebDriver, by: str, selector: str, keys: str | None = None) -> None:
    """Clicks the element (or types ``keys`` into it), finding it again until it takes the action."""

    def done(b: WebDriver) -> bool:
        element = b.find_element(by, selector)
        element.send_keys(keys) if keys is not None else element.click()
        return True

    wait(browser, done, f"{keys or 'a click'} on {selector}")


def texts(browser: WebDriver, selector: str) -> list[str]:
    """The elements' visible texts, read in one go: the live page may replace an element between
    finding it and reading it (a stale reference), not in the middle of one script."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText.trim())", selector
    )


def serious_violations(browser: WebDriver) -> list[str]:
    browser.execute_script(AXE.read_text())
    found = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations.map(v => [v.impact, v.id, v.nodes.map(n => n.target.join(' '))])));"
    )
    return [f"{impact} {rule}: {nodes}" for impact, rule, nodes in found if impact in ("serious", "critical")]


def drag(browser: WebDriver, item, target) -> None:
    """An HTML5 drag and drop as a mouse makes it (Chromium's driver cannot drag natively)."""
    browser.execute_script(
        """const [item, target] = arguments, data = new DataTransfer();
        const at = (el) => { const box = el.getBoundingClientRect(); return {clientX: box.left + 10, clientY: box.top + 2}; };
        item.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));
        target.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: data, ...at(target)}));
        target.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: data, ...at(target)}));
        item.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: data}));""",
        item,
        target,
    )


def functions(browser: WebDriver) -> list[str]:
    return texts(browser, "#functions .title")


def test_the_seed_scenario_in_the_console(browser, demo):
    base, fabien = demo
    browser.get(f"{base}/people/{fabien}")
    wait(browser, lambda b: "/sign-in" in b.current_url, "a page asks a stranger to sign in")
    assert not serious_violations(browser)
    browser.find_element(By.CSS_SELECTOR, "[data-action=demo-sign-in]").click()

    wait(browser, lambda b: b.find_elements(By.ID, "person-name"), "the person page after signing in")
    browser.get(f"{base}/")
    search = browser.find_element(By.ID, "q")
    search.send_keys("Bellemare")
    wait(browser, lambda b: "Fabien Bellemare" in " ".join(texts(b, ".result-name")), "search as you type")
    browser.save_screenshot(str(DOCS / "console-search.png"))
    assert not serious_violations(browser)
    act(browser, By.LINK_TEXT, "Fabien Bellemare")

    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".person.live"), "the page's live stream")
    assert functions(browser) == ["Managing director", "Board member", "Treasurer"]
    history = " ".join(texts(browser, ".history li.ended"))
    assert "Finance director" in history and "Delta Telecom" in history
    assert "Managing director" in browser.find_element(By.ID, "main-function").text

    # Treasurer to the top: the main function, here and after a reload.
    items = browser.find_elements(By.CSS_SELECTOR, "#functions [data-function-id]")
    drag(browser, items[2], items[0])
    wait(browser, lambda b: "Treasurer" in b.find_element(By.ID, "main-function").text, "Treasurer is main")
    browser.refresh()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".person.live"), "the reloaded page's stream")
    assert functions(browser)[0] == "Treasurer" and "Treasurer" in browser.find_element(By.ID, "main-function").text

    # The keyboard does it too: Treasurer one down, then back up.
    act(browser, By.CSS_SELECTOR, "#functions li:first-child [data-action=move-down]", Keys.ENTER)
    wait(browser, lambda b: "Managing director" in b.find_element(By.ID, "main-function").text, "moved down by keys")
    assert functions(browser)[:2] == ["Managing director", "Treasurer"]
    act(browser, By.CSS_SELECTOR, "#functions li:nth-child(2) [data-action=move-up]", Keys.ENTER)
    wait(browser, lambda b: "Treasurer" in b.find_element(By.ID, "main-function").text, "moved back up by keys")

    # A Twilio SMS while the page is open: in the timeline within seconds, without a reload.
    browser.execute_script("window.notReloaded = 'still the same page';")
    text = f"Can you call me back {uuid.uuid4().hex[:6]}"
    sid = f"SM{uuid.uuid4().hex}"
    body = INBOUND_SMS.replace("STOP+les+promos+merci", text.replace(" ", "+")).replace(
        "SM1f0e8ae6ade43cb3c0ce4525424e404f", sid
    )
    answer = httpx.post(
        f"{base}/v1/ingest/twilio/sms", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 200, answer.text
    started = time.monotonic()
    wait(browser, lambda b: text in b.find_element(By.ID, "timeline").text, "the webhook's SMS in the timeline", 5)
    assert time.monotonic() - started < 5
    assert browser.execute_script("return window.notReloaded") == "still the same page"

    # The advisor's note and an SMS opt-out, from the page: in the timeline and in reachability.
    act(browser, By.ID, "note-text", "Wants the irrigation add-on quote by Friday")
    act(browser, By.CSS_SELECTOR, "#note-form button[type=submit]")
    wait(browser, lambda b: "irrigation add-on quote" in b.find_element(By.ID, "timeline").text, "the note")
    act(browser, By.XPATH, "//summary[contains(., 'consent change')]")
    browser.find_element(By.ID, "consent-reason").clear()
    browser.find_element(By.ID, "consent-reason").send_keys("no more SMS, asked on the phone")
    act(browser, By.CSS_SELECTOR, "#consent-form button[type=submit]")
    wait(browser, lambda b: "not reachable" in b.find_element(By.ID, "reachability-card").text, "the opt-out")
    assert "no more SMS, asked on the phone" in browser.find_element(By.ID, "timeline").text
    assert browser.execute_script("return window.notReloaded") == "still the same page"

    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(DOCS / "console-person.png"))
    assert not serious_violations(browser)


def test_a_join_from_search_its_undo_and_a_broken_rule_shown_as_a_sentence(browser, demo):
    base, fabien = demo
    browser.get(f"{base}/people/{fabien}")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".person.live"), "the person page")
    act(browser, By.XPATH, "//summary[contains(., 'Join another')]")
    act(browser, By.ID, "join-q", "Dubois")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#join-results [data-action=join]"), "join candidates")
    assert "Fabien" not in " ".join(texts(browser, "#join-results"))  # never himself
    act(browser, By.CSS_SELECTOR, "#join-results [data-action=join]")
    browser.switch_to.alert.accept()
    wait(browser, lambda b: "Claire" in b.find_element(By.ID, "joins-card").text, "the join, with its undo")
    act(browser, By.CSS_SELECTOR, "#joins-card [data-action=separate]")
    wait(browser, lambda b: "Claire" not in b.find_element(By.ID, "joins-card").text, "the join undone")

    # Joining him into himself breaks a rule: the page says which, in words.
    browser.execute_script(
        "window.crossviewApi('POST', `/v1/persons/${arguments[0]}/joins`, {absorbed_id: arguments[0]}).catch(() => {});",
        fabien,
    )
    problem = wait(
        browser,
        lambda b: b.find_element(By.ID, "problem").is_displayed() and b.find_element(By.ID, "problem"),
        "the problem",
    )
    assert "JoinError" in problem.text and "cannot be joined" in problem.text


def test_on_his_call_the_advisor_sees_the_stalled_checkout_moves_it_and_records_the_offer_taken(browser, demo):
    base, fabien = demo
    browser.get(f"{base}/people/{fabien}")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".person.live"), "the person page")
    journeys = browser.find_element(By.ID, "journeys-card").text
    assert "step 2 of 3 — Payment" in journeys and "STALLED" in journeys.upper()
    assert "SPRING20" in browser.find_element(By.ID, "offers-card").text
    assert "open purchase journey" in browser.find_element(By.ID, "offers-card").text

    act(browser, By.ID, "note-text", "Paid on the phone")
    Select(browser.find_element(By.ID, "note-journey")).select_by_value("CHK-2041")
    act(browser, By.CSS_SELECTOR, "#note-form button[type=submit]")
    wait(browser, lambda b: "step 3 of 3" in b.find_element(By.ID, "journeys-card").text, "the call moved the checkout")
    assert "CALL" in browser.find_element(By.ID, "journeys-card").text.upper()

    act(browser, By.CSS_SELECTOR, "[data-action=offer-answer][data-answer=accept]")
    wait(browser, lambda b: "Irrigation" not in b.find_element(By.ID, "offers-card").text, "the offer taken")
    assert not serious_violations(browser)
