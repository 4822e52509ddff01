"""The console's analytics page in a real headless Chromium: an analyst signs in with their token,
the charts are drawn from the same figures the API answers (compared here), axe-core finds no
serious violation. docs/console-analytics.png is this test's screenshot."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from selenium.webdriver.common.by import By

from services.application.auth import Role, development_token
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.e2e.test_console_browser import DOCS, browser, serious_violations, wait  # noqa: F401 - the fixture
from tests.sse import serving

CAMPAIGN = "autumn-garden-fair"
START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def campaign_events(fabien: str) -> list[dict]:
    """An email campaign to 60 people over a week (SendGrid: delivered, opened, clicked, bounced), and
    SMS to a third of them through a gateway that reports no delivery: its link's clicks are over sent."""
    rng = random.Random(5)
    events = []

    def event(person: str, n: int, channel: str, status: str, day: int, provider_id: str) -> dict:
        data = {"direction": "outbound", "provider": "sendgrid" if channel == "email" else "sms-gateway"}
        data |= {"provider_id": provider_id, "status": status, "campaign": CAMPAIGN}
        if channel == "email":
            data["address"] = f"{person[:8]}@example.org"
        else:
            data |= {"from_number": "+33140000000", "to_number": f"+336{n:08d}", "body": "Fair on Saturday"}
        return {
            "specversion": "1.0",
            "id": f"{provider_id}-{status}",
            "source": "campaigns",
            "type": f"crossview.interaction.{channel}.v1",
            "subject": person,
            "time": (START + timedelta(days=day, minutes=n)).isoformat(),
            "data": data,
        }

    for n in range(60):
        person = fabien if n == 0 else f"00000000-0000-4000-8000-{n:012d}"
        sent_on = rng.randrange(3)
        events.append(event(person, n, "email", "processed", sent_on, f"em-{n}"))
        if rng.random() < 0.08:
            events.append(event(person, n, "email", "bounce", sent_on, f"em-{n}"))
            continue
        events.append(event(person, n, "email", "delivered", sent_on, f"em-{n}"))
        if rng.random() < 0.55:
            opened_on = sent_on + rng.randrange(4)
            events.append(event(person, n, "email", "open", opened_on, f"em-{n}"))
            if rng.random() < 0.4:
                events.append(event(person, n, "email", "click", opened_on + rng.randrange(2), f"em-{n}"))
        if n % 3 == 0:
            events.append(event(person, n, "sms", "sent", 1, f"sms-{n}"))
            if n % 9 == 0:
                events.append(event(person, n, "sms", "clicked", 2, f"sms-{n}"))
    return events


@pytest.fixture(scope="module")
def analytics_demo() -> Iterator[tuple[str, str]]:
    settings = Settings()
    app = create_app(lambda: embedded(settings))
    adapter = development_token(settings.development_signing_key, "campaigns", [Role.ADAPTER])
    analyst = development_token(settings.development_signing_key, "ana", [Role.ANALYST])
    with serving(app) as base:
        fabien = str(app.state.crossview.demo.fabien)
        published = httpx.post(
            f"{base}/v1/events", json=campaign_events(fabien), headers={"Authorization": f"Bearer {adapter}"}
        )
        assert published.status_code == 202, published.text
        yield base, analyst


def test_an_analyst_sees_the_campaign_and_the_channel_mix_as_charts_of_the_apis_figures(browser, analytics_demo):  # noqa: F811
    base, analyst = analytics_demo
    browser.get(f"{base}/console/analytics")
    wait(browser, lambda b: "/sign-in" in b.current_url, "the page asks a stranger to sign in")
    browser.find_element(By.ID, "token").send_keys(analyst)
    browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "svg.chart"), "the analytics page")
    browser.find_element(By.LINK_TEXT, CAMPAIGN).click()
    wait(browser, lambda b: CAMPAIGN in b.find_element(By.ID, "campaign-title").text, "the campaign's charts")

    headers = {"Authorization": f"Bearer {analyst}"}
    days = httpx.get(f"{base}/v1/campaigns/{CAMPAIGN}/days", headers=headers).json()["channels"]
    email = days["email"][-1]
    rates = browser.find_element(By.CSS_SELECTOR, "#rates-email-desc").get_attribute("textContent")
    assert f"opened {email['rates']['opened']:.0%} over delivered" in rates
    drawn = browser.find_element(By.CSS_SELECTOR, "svg[aria-labelledby^='rates-email']").get_attribute("textContent")
    assert f"{email['counts']['opened']:,} of {email['counts']['delivered']:,} delivered" in drawn
    sms = browser.find_element(By.CSS_SELECTOR, "svg[aria-labelledby^='rates-sms']").get_attribute("textContent")
    assert "no delivery reported" in browser.find_element(By.ID, "main").text
    clicked = days["sms"][-1]["counts"]["clicked"]
    assert clicked and f"{clicked} of {days['sms'][-1]['counts']['sent']} sent" in sms  # engagement over sent

    # The day table holds the API's figures, day by day: new that day / so far.
    browser.find_element(By.XPATH, "//summary[contains(., 'day by day')]").click()
    cells = [row.text for row in browser.find_elements(By.CSS_SELECTOR, ".chart-block:first-of-type details tbody tr")]
    first_channel = next(iter(days))
    assert len(cells) == len(days[first_channel])
    for row, figures in zip(cells, days[first_channel], strict=True):
        assert row.startswith(figures["day"]) and f"{figures['new']['sent']} / {figures['counts']['sent']}" in row

    mix = httpx.get(f"{base}/v1/analytics/interactions", headers=headers).json()
    status_text = browser.find_element(By.CSS_SELECTOR, "svg[aria-labelledby^='mix-status']").get_attribute(
        "textContent"
    )
    for status in mix["by_organisation_status"]:
        assert f"{status['total']:,}" in status_text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 2 * len(days) + 2

    browser.find_element(By.XPATH, "//summary[contains(., 'day by day')]").click()  # folded again
    browser.set_window_size(1440, 1900)
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(DOCS / "console-analytics.png"))
    assert not serious_violations(browser)
