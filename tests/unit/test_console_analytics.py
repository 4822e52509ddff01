"""The console's door for analysts: their token opens a session that starts on the analytics page;
the page is theirs (and administrators'), not advisors'; an adapter's token opens nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.application.auth import Role, development_token
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings

SETTINGS = Settings()


def token(*roles: Role) -> str:
    return development_token(SETTINGS.development_signing_key, "someone", roles)


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(SETTINGS))) as client:
        yield client


def test_an_analysts_session_starts_on_the_analytics_page_and_an_advisors_on_the_search(client):
    analyst = client.post("/v1/console/session", json={"token": token(Role.ANALYST)})
    assert analyst.status_code == 200 and analyst.json()["home"] == "/console/analytics"
    page = client.get("/console/analytics")
    assert page.status_code == 200 and page.text.count("<svg") >= 4  # the demo's campaign: rates, days; two mixes
    assert "spring-promo" in page.text and "no delivery reported" in page.text  # its email reported none
    advisor = client.post("/v1/console/session", json={"token": token(Role.ADVISOR)})
    assert advisor.json()["home"] == "/"
    assert client.get("/console/analytics").status_code == 403


def test_an_adapters_token_opens_no_console_session(client):
    answer = client.post("/v1/console/session", json={"token": token(Role.ADAPTER)})
    assert answer.status_code == 403 and "advisors and analysts" in answer.json()["detail"]


def test_an_unknown_campaign_on_the_page_is_a_404(client):
    client.post("/v1/console/session", json={"token": token(Role.ANALYST)})
    assert client.get("/console/analytics?campaign=nothing-like-it").status_code == 404
