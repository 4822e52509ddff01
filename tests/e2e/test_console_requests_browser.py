"""Requests and complaints from the advisor's console, in a real headless Chromium (Debian's chromium
and chromium-driver through Selenium, as test_console_browser.py): an advisor opens a complaint for
Fabien Bellemare, takes it in progress, comments on it, assigns it, resolves it, and the page shows
each state as soon as the action answered; a rule the API enforces (a kind retired meanwhile) is
shown as a sentence next to the form. Screenshots go to CROSSVIEW_SCREENSHOTS (default: a pytest
temporary folder), never into the repository."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from projections.projector import Projector
from services.application.auth import Role, development_token
from services.bootstrap import embedded
from services.http.app import create_app
from services.http.routes import console_requests
from services.settings import DEMO_SIGNING_KEY, Settings
from tests.e2e.servers import live_api
from tests.e2e.test_console_browser import browser, serious_violations, wait  # noqa: F401 - the fixture
from tests.scenario import Scenario
from tests.sse import serving
from tests.tokens import EVERY_ROLE

LAG_S = 0.5  # how far a busy projector trails the commands (each batch waits so long)
LONG_LAG_S = 3.0  # while the test works on a page it knows to be behind
CALLBACK = "callback"  # a kind an administrator adds, then retires while the advisor's page is open


@pytest.fixture(scope="module")
def desk() -> Iterator[tuple[str, str, dict[str, str]]]:
    settings = Settings(insecure_skip_signatures=True)
    app = create_app(lambda: embedded(settings))
    admin = development_token(settings.development_signing_key, "desk-admin", [Role.ADMIN])
    with serving(app) as base:
        yield base, app.state.crossview.demo.fabien, {"Authorization": f"Bearer {admin}"}


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("CROSSVIEW_SCREENSHOTS") or tmp_path_factory.mktemp("console-requests"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def kinds(base: str, headers: dict[str, str]) -> dict[str, dict]:
    answer = httpx.get(f"{base}/v1/service-request-kinds", headers=headers)
    assert answer.status_code == 200, answer.text
    return {k["code"]: k for k in answer.json()["kinds"]}


def until(condition, what: str, timeout_s: float = 10):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# The live stream may replace the list at any moment: what is read of it is read in one script.
FIND = """const item = Array.from(document.querySelectorAll('#requests [data-request]'))
  .find((li) => li.querySelector('.request-subject').textContent.trim() === arguments[0]);"""


def state_of(driver: WebDriver, subject: str) -> str | None:
    return driver.execute_script(
        f"{FIND} return item ? item.querySelector('.request-state').textContent.trim().toLowerCase() : null;", subject
    )


def moves_of(driver: WebDriver, subject: str) -> list[str]:
    return driver.execute_script(
        f"{FIND} return item ? Array.from(item.querySelectorAll('[data-action=request-state]'))"
        ".map((b) => b.textContent.trim()) : [];",
        subject,
    )


def text_of(driver: WebDriver, subject: str, selector: str | None = None) -> str:
    return driver.execute_script(
        f"{FIND} const part = item && (arguments[1] ? item.querySelector(arguments[1]) : item);"
        "return part ? part.innerText : '';",
        subject,
        selector,
    )


def actions_done(driver: WebDriver) -> int:
    return int(driver.find_element(By.ID, "requests-card").get_attribute("data-actions") or 0)


def settled(driver: WebDriver, click) -> None:
    """Does ``click`` and waits until the page finished with the action: the API answered and the
    list was read again. What the page shows then must be the state after it, without waiting for
    the live stream to bring it (read-your-writes)."""
    before = actions_done(driver)
    click()
    # the page reads again (5 s a try) until the read model holds the action: a loaded machine takes a while
    wait(driver, lambda b: actions_done(b) > before, "the action settled", 40)


def part(driver: WebDriver, subject: str, selector: str) -> WebElement:
    """A part of the request, found again until it is in the page (the list may just be replaced)."""
    return wait(
        driver,
        lambda b: b.execute_script(
            f"{FIND} const p = item && item.querySelector(arguments[1]);"
            "if (p) p.scrollIntoView({block: 'center'}); return p;",
            subject,
            selector,
        ),
        f"{selector} of {subject}",
    )


def press(driver: WebDriver, subject: str, selector: str) -> None:
    """Clicks a part of the request; if the live stream replaced it just then, clicks the new one
    (a click on a replaced element raises, and did nothing)."""
    wait(driver, lambda b: part(b, subject, selector).click() or True, f"a click on {selector} of {subject}")


def typed(driver: WebDriver, subject: str, selector: str, text: str) -> None:
    def type_it(b: WebDriver) -> bool:
        field = part(b, subject, selector)
        field.clear()
        field.send_keys(text)
        return field.get_attribute("value") == text

    wait(driver, type_it, f"{text!r} typed")


def click_move(driver: WebDriver, subject: str, label: str) -> None:
    settled(driver, lambda: press(driver, subject, f"[data-action=request-state][aria-label^='{label}:']"))


def person_page(driver: WebDriver, base: str, person: str) -> None:
    """The person's page, signed in as the demo's advisor (one click on the sign-in page if need be)."""
    driver.get(f"{base}/people/{person}")
    wait(driver, lambda b: b.find_elements(By.CSS_SELECTOR, ".person, [data-action=demo-sign-in]"), "a page")
    if "/sign-in" in driver.current_url:
        driver.find_element(By.CSS_SELECTOR, "[data-action=demo-sign-in]").click()
    wait(driver, lambda b: b.find_elements(By.CSS_SELECTOR, ".person.live"), "the person page, live")


def shoot(driver: WebDriver, shots: Path, name: str, element: WebElement | None = None, subject: str = "") -> None:
    """A screenshot with ``element`` (or the request about ``subject``, found as it is now) at the top."""
    if subject:
        driver.execute_script(f"{FIND} item.scrollIntoView({{block: 'start'}});", subject)
    elif element is not None:
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
    driver.save_screenshot(str(shots / f"{name}.png"))


def test_an_advisor_opens_a_complaint_moves_it_on_comments_and_resolves_it_seeing_each_state(browser, desk, shots):  # noqa: F811 - the fixture
    base, fabien, _ = desk
    person_page(browser, base, fabien)
    card = browser.find_element(By.ID, "requests-card")
    assert "Cotisation 2026 prélevée deux fois" in card.text  # the demo's complaint by email, open
    shoot(browser, shots, "1-requests-before", card)

    subject = f"Mower delivered broken {uuid.uuid4().hex[:4]}"
    browser.find_element(By.XPATH, "//summary[contains(., 'Open a request or complaint')]").click()
    Select(browser.find_element(By.ID, "request-kind")).select_by_value("complaint")
    Select(browser.find_element(By.ID, "request-channel")).select_by_value("call")
    browser.find_element(By.ID, "request-subject").send_keys(subject)
    browser.find_element(By.ID, "request-description").send_keys("The blade was bent in the box.")
    Select(browser.find_element(By.ID, "request-function")).select_by_visible_text(
        "Managing director · Fabulous Garden"
    )
    settled(browser, browser.find_element(By.CSS_SELECTOR, "#request-form button[type=submit]").click)
    # The page read the list again at the command's position: the new complaint is there, open.
    assert state_of(browser, subject) == "open"
    item = text_of(browser, subject)
    assert "COMPLAINT" in item.upper() and "due" in item and "via call" in item
    assert "Fabulous Garden" in item and "unassigned" in item
    assert moves_of(browser, subject) == ["Take in progress", "Wait for the customer", "Resolve"]
    assert browser.find_element(By.ID, "request-subject").get_attribute("value") == ""  # the form is emptied
    shoot(browser, shots, "2-opened", browser.find_element(By.ID, "requests-card"))

    click_move(browser, subject, "Take in progress")
    assert state_of(browser, subject) == "in progress"
    assert moves_of(browser, subject) == ["Wait for the customer", "Resolve"]

    # A comment and an assignment (to the signed-in advisor, by default), from the request's details.
    press(browser, subject, ".request-more summary")
    typed(browser, subject, "[data-action=request-comment] textarea", "Courier booked to collect it on Thursday.")
    settled(browser, lambda: press(browser, subject, "[data-action=request-comment] button"))
    assert "Courier booked to collect it on Thursday." in text_of(browser, subject, ".comments")
    assert "demo-advisor" in text_of(browser, subject, ".comments")  # signed by the advisor
    assert "1 comment" in text_of(browser, subject, ".request-more summary")
    assert browser.execute_script(f"{FIND} return item.querySelector('.request-more').open;", subject)  # stays open
    comment_box = "[data-action=request-comment] textarea"
    assert browser.execute_script(f"{FIND} return item.querySelector('{comment_box}').value;", subject) == ""
    assignee = "[data-action=request-assign] input"
    assert browser.execute_script(f"{FIND} return item.querySelector('{assignee}').value;", subject) == "demo-advisor"
    settled(browser, lambda: press(browser, subject, "[data-action=request-assign] button"))
    assert "assigned to demo-advisor" in text_of(browser, subject)
    shoot(browser, shots, "3-in-progress-commented", subject=subject)

    typed(browser, subject, ".move-reason", "Replacement delivered on Thursday")
    click_move(browser, subject, "Resolve")
    assert state_of(browser, subject) == "resolved"
    assert moves_of(browser, subject) == ["Close", "Reopen"]
    assert browser.execute_script(f"{FIND} return item.querySelector('.move-reason').value;", subject) == ""
    # Open ones first: the resolved complaint now comes after the demo's open one.
    subjects = browser.execute_script(
        "return Array.from(document.querySelectorAll('#requests .request-subject')).map((e) => e.textContent.trim());"
    )
    assert subjects.index("Cotisation 2026 prélevée deux fois") < subjects.index(subject)
    resolved = "Request in progress → resolved: Replacement delivered on Thursday"
    wait(browser, lambda b: resolved in b.find_element(By.ID, "timeline").text, "the resolution in the timeline")
    shoot(browser, shots, "4-resolved", browser.find_element(By.ID, "requests-card"))

    click_move(browser, subject, "Close")
    assert state_of(browser, subject) == "closed"
    assert moves_of(browser, subject) == ["Reopen"]
    assert browser.execute_script(f"{FIND} return item.querySelectorAll('form').length;", subject) == 0
    assert not browser.find_element(By.ID, "requests-problem").is_displayed()

    # What the API holds is what the page showed.
    assert not serious_violations(browser)


def test_a_rule_the_api_enforces_is_shown_to_the_advisor_as_a_sentence(browser, desk, shots):  # noqa: F811 - the fixture
    base, fabien, admin = desk
    defined = httpx.put(
        f"{base}/v1/service-request-kinds/{CALLBACK}",
        json={"label": "Callback", "service_level_hours": 4},
        headers=admin,
    )
    assert defined.status_code == 200, defined.text
    until(lambda: CALLBACK in kinds(base, admin), "the new kind in the referential")
    person_page(browser, base, fabien)
    browser.find_element(By.XPATH, "//summary[contains(., 'Open a request or complaint')]").click()
    Select(browser.find_element(By.ID, "request-kind")).select_by_value(CALLBACK)

    # Meanwhile an administrator retires the kind: the page still offers it, the rule refuses it.
    retired = httpx.post(f"{base}/v1/service-request-kinds/{CALLBACK}/retire", headers=admin)
    assert retired.status_code == 200, retired.text
    browser.find_element(By.ID, "request-subject").send_keys("Call me back about the invoice")
    settled(browser, browser.find_element(By.CSS_SELECTOR, "#request-form button[type=submit]").click)
    problem = wait(
        browser,
        lambda b: (
            b.find_element(By.ID, "requests-problem").is_displayed() and b.find_element(By.ID, "requests-problem")
        ),
        "the rule, in words",
    )
    assert "An administrator has retired this kind of request" in problem.text
    assert "RetiredRequestKindError" in problem.text and "'callback' is retired" in problem.text
    assert not browser.find_element(By.ID, "problem").is_displayed()  # next to the form, not at the top
    assert "Call me back about the invoice" not in browser.find_element(By.ID, "requests").text
    # what was typed stays, to be sent again with another kind
    assert browser.find_element(By.ID, "request-subject").get_attribute("value") == "Call me back about the invoice"
    shoot(browser, shots, "5-rule-error", browser.find_element(By.ID, "requests-card"))

    Select(browser.find_element(By.ID, "request-kind")).select_by_value("request")
    settled(browser, browser.find_element(By.CSS_SELECTOR, "#request-form button[type=submit]").click)
    assert state_of(browser, "Call me back about the invoice") == "open"
    assert not browser.find_element(By.ID, "requests-problem").is_displayed()


def test_an_overdue_request_is_marked_and_counted(browser, desk, shots, monkeypatch):  # noqa: F811 - the fixture
    base, fabien, _ = desk
    # Three days on (the server runs in this process): the demo's complaint, due in 48 h, is late.
    later = datetime.now(UTC) + timedelta(days=3)
    monkeypatch.setattr(console_requests, "now", lambda: later)
    person_page(browser, base, fabien)
    complaint = "Cotisation 2026 prélevée deux fois"
    assert browser.execute_script(f"{FIND} return item.classList.contains('breached');", complaint)
    assert "OVERDUE" in text_of(browser, complaint).upper()
    assert "due" in text_of(browser, complaint, ".request-meta") and text_of(browser, complaint, "time.late")
    assert "overdue" in browser.find_element(By.ID, "requests-counts").text
    shoot(browser, shots, "6-overdue", browser.find_element(By.ID, "requests-card"))
    assert not serious_violations(browser)
    browser.set_window_size(760, 1100)  # a narrow window: one column
    try:
        shoot(browser, shots, "7-narrow", browser.find_element(By.ID, "requests-card"))
        overflow = "return document.documentElement.scrollWidth > document.documentElement.clientWidth;"
        assert not browser.execute_script(overflow), "the page scrolls sideways"
    finally:
        browser.set_window_size(1440, 1100)


def test_on_the_real_services_the_page_shows_each_move_at_once(browser, settings, tmp_path, monkeypatch, shots):  # noqa: F811
    """`crossview serve` and a projector on the real Kafka and PostgreSQL, the projector slowed down
    as a busy one is, so the read model trails each command: after every action the page already
    shows its result (it read at the command's position), without waiting for the live stream; and a
    move someone else made meanwhile turns Alice's into a rule error, in words."""
    process = Projector.process

    lag = {"s": LAG_S}

    def busy(self, records):
        time.sleep(lag["s"])
        return process(self, records)

    monkeypatch.setattr(Projector, "process", busy)  # the projector runs in this process (ProjectorThread)
    with live_api(settings, tmp_path) as base, httpx.Client(base_url=base, timeout=30, headers=EVERY_ROLE) as client:
        try:
            scenario = Scenario(client)
            fabien = scenario.build()["fabien"]
            scenario.read("get", f"/v1/persons/{fabien}")  # his view is there before the page asks for it
            browser.get(f"{base}/sign-in?next=/people/{fabien}")
            token = development_token(DEMO_SIGNING_KEY, "alice@advisors", [Role.ADVISOR])
            browser.find_element(By.ID, "token").send_keys(token)
            browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
            wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".person.live"), "the person page, live", 20)

            subject = "Invoice sent twice"
            browser.find_element(By.XPATH, "//summary[contains(., 'Open a request or complaint')]").click()
            Select(browser.find_element(By.ID, "request-kind")).select_by_value("complaint")
            browser.find_element(By.ID, "request-subject").send_keys(subject)
            settled(browser, browser.find_element(By.CSS_SELECTOR, "#request-form button[type=submit]").click)
            assert state_of(browser, subject) == "open"
            for label, state in [
                ("Take in progress", "in progress"),
                ("Wait for the customer", "waiting for customer"),
            ]:
                click_move(browser, subject, label)
                assert state_of(browser, subject) == state, label
            press(browser, subject, ".request-more summary")
            settled(browser, lambda: press(browser, subject, "[data-action=request-assign] button"))
            assert "assigned to alice@advisors" in text_of(browser, subject)

            # Behind the page, another advisor resolves and closes it; before the page hears of it
            # (the projector trails), Alice resolves it: the rule refuses, the page says so in words.
            rid = browser.execute_script(f"{FIND} return item.dataset.request;", subject)
            lag["s"] = LONG_LAG_S
            for state in ("resolved", "closed"):
                moved = client.post(f"/v1/persons/{fabien}/service-requests/{rid}/state", json={"state": state})
                assert moved.status_code == 200, moved.text
            assert state_of(browser, subject) == "waiting for customer"  # the page does not know yet
            click_move(browser, subject, "Resolve")
            problem = browser.find_element(By.ID, "requests-problem")
            assert problem.is_displayed() and "RequestTransitionError" in problem.text
            assert "This request has moved on since the page showed it" in problem.text
            assert "cannot go from closed to resolved" in problem.text
            # until the change arrives, the request says it is out of date, and offers no move
            assert "Changed meanwhile by someone else" in text_of(browser, subject)
            assert browser.execute_script(
                f"{FIND} return item.querySelector('[data-action=request-state]').disabled;", subject
            )
            shoot(browser, shots, "8-moved-meanwhile", browser.find_element(By.ID, "requests-card"))
            lag["s"] = LAG_S
            # The live stream then brings the closing: only a reopening is offered.
            wait(browser, lambda b: state_of(b, subject) == "closed", "the closing, live", 20)
            assert moves_of(browser, subject) == ["Reopen"]
            assert "Changed meanwhile" not in text_of(browser, subject)
            click_move(browser, subject, "Reopen")
            assert state_of(browser, subject) == "open"
            assert not browser.find_element(By.ID, "requests-problem").is_displayed()
            listed = client.get(f"/v1/persons/{fabien}/service-requests").json()["service_requests"]
            assert [(r["subject"], r["state"], r["assignee"], r["reopened"]) for r in listed] == [
                (subject, "open", "alice@advisors", 1)
            ]
        finally:
            browser.get("about:blank")  # closes the page's stream, so the server can stop
