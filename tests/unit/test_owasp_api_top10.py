"""OWASP API Security Top 10 (2023): for each risk, a test that fails without its defence."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from fastapi.testclient import TestClient

from services.application.auth import Role
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import bearer

ADVISOR, ANALYST, ADAPTER, ADMIN = (bearer(r) for r in (Role.ADVISOR, Role.ANALYST, Role.ADAPTER, Role.ADMIN))


@pytest.fixture
def client(demo_client):
    return demo_client


# API1:2023 Broken Object Level Authorization — a person's data only for those whose role reads people
# (analysts see it pseudonymised), and a person's audit trail only for administrators.
def test_api1_objects_of_a_person_are_refused_or_masked_to_roles_that_do_not_read_people(client, fabien):
    for path in (f"/v1/persons/{fabien}", f"/v1/persons/{fabien}/timeline", f"/v1/persons/{fabien}/history"):
        assert client.get(path, headers=ADVISOR).status_code == 200
        adapter = client.get(path, headers=ADAPTER)
        assert adapter.status_code == 403 and "Bellemare" not in adapter.text
        analyst = client.get(path, headers=ANALYST)
        assert analyst.status_code == 200 and "Bellemare" not in analyst.text and "+33612345678" not in analyst.text
    assert client.get(f"/v1/persons/{fabien}/audit", headers=ADVISOR).status_code == 403


# API2:2023 Broken Authentication — a token signed by anyone but the configured key, or with no
# signature at all, is nobody.
def test_api2_unsigned_and_foreign_tokens_are_nobody(client):
    import jwt

    for token in (
        jwt.encode({"sub": "m", "roles": ["admin"], "aud": "crossview", "exp": 2_000_000_000}, None, algorithm="none"),
        jwt.encode(
            {"sub": "m", "roles": ["admin"], "aud": "crossview", "exp": 2_000_000_000, "iss": "crossview-development"},
            "a-key-of-our-own-choosing-long-enough-for-hs256",
            algorithm="HS256",
        ),
    ):
        assert client.get("/v1/titles", headers={"Authorization": f"Bearer {token}"}).status_code == 401


# API3:2023 Broken Object Property Level Authorization — a client cannot set properties it does not
# own (mass assignment), such as making a person provisional or choosing their id.
def test_api3_unknown_properties_are_refused_not_assigned(client):
    for extra in ({"provisional": True}, {"person_id": "chosen-by-the-client"}):
        answer = client.post(
            "/v1/persons", json={"given_name": "Ada", "family_name": "Lovelace", **extra}, headers=ADVISOR
        )
        assert answer.status_code == 422, answer.text
        assert list(extra)[0] in answer.text


# API4:2023 Unrestricted Resource Consumption — pages and batches are bounded.
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/persons/{fabien}/timeline?limit=100000", None),
        ("get", "/v1/persons/{fabien}/audit?limit=100000", None),
        ("get", "/v1/search?q=a&limit=100000", None),
        ("post", "/v1/events", [{}] * 1001),
    ],
)
def test_api4_pages_and_batches_have_a_ceiling(client, fabien, method, path, body):
    headers = ADAPTER if path == "/v1/events" else bearer(Role.ADVISOR, Role.ADMIN)
    answer = client.request(method.upper(), path.format(fabien=fabien), json=body, headers=headers)
    assert answer.status_code == 422, answer.text


# API5:2023 Broken Function Level Authorization — administrative functions refuse advisors.
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/v1/titles/CEO", {"label": "Chief executive"}),
        ("post", "/v1/titles/CEO/retire", None),
        ("put", "/v1/attribute-policy/email", {"level": "person"}),
        ("delete", "/v1/persons/{fabien}", None),
        ("get", "/v1/persons/{fabien}/export", None),
    ],
)
def test_api5_administrative_functions_refuse_advisors(client, fabien, method, path, body):
    answer = client.request(method.upper(), path.format(fabien=fabien), json=body, headers=ADVISOR)
    assert answer.status_code == 403, answer.text


# API6:2023 Unrestricted Access to Sensitive Business Flows — erasing a person is for administrators,
# leaves a trace of who did it, and cannot be replayed into harm (a second request does nothing more).
def test_api6_an_erasure_is_traced_to_whoever_asked_and_idempotent(client, fabien):
    assert client.delete(f"/v1/persons/{fabien}", headers=bearer(Role.ADMIN, subject="dpo@bank")).status_code == 200
    again = client.delete(f"/v1/persons/{fabien}", headers=bearer(Role.ADMIN, subject="dpo@bank"))
    assert again.json()["already"] is True
    trail = client.get(f"/v1/persons/{fabien}/audit", headers=ADMIN).json()["entries"]
    assert [e["actor"] for e in trail if e["kind"] == "erasure"] == ["dpo@bank", "dpo@bank"]


# API7:2023 Server Side Request Forgery — an SES notification naming a certificate URL that is not
# Amazon SNS's makes the server fetch nothing.
def test_api7_a_certificate_url_of_our_choosing_is_never_fetched():
    fetched = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    topic = "arn:aws:sns:eu-west-1:123456789012:ses-events"
    settings = Settings(ses_topic_arns=topic)
    try:
        with TestClient(create_app(lambda: embedded(settings, with_demo=False))) as client:
            for url in (
                f"http://127.0.0.1:{server.server_port}/cert.pem",
                f"https://sns.eu-west-1.amazonaws.com.evil.example:{server.server_port}/cert.pem",
            ):
                notification = {
                    "Type": "Notification",
                    "MessageId": "m1",
                    "TopicArn": topic,
                    "Message": "{}",
                    "Timestamp": "2026-11-20T10:00:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "AAAA",
                    "SigningCertURL": url,
                }
                answer = client.post("/v1/ingest/ses", content=json.dumps(notification))
                assert answer.status_code == 403, answer.text
    finally:
        server.shutdown()
    assert fetched == []


# API8:2023 Security Misconfiguration — answers are not cached, sniffed or framed; no cross-origin
# reads are granted; errors carry no stack trace.
def test_api8_answers_carry_protective_headers_and_grant_no_cross_origin_reads(client, fabien):
    answer = client.get(f"/v1/persons/{fabien}", headers={**ADVISOR, "Origin": "https://evil.example"})
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "access-control-allow-origin" not in answer.headers
    broken = client.post("/v1/persons", content=b"{not json", headers={**ADVISOR, "content-type": "application/json"})
    assert broken.status_code == 422 and "Traceback" not in broken.text


# API9:2023 Improper Inventory Management — every route the server answers is in the OpenAPI document,
# with the roles it admits: nothing undocumented, nothing open by omission.
def test_api9_every_route_is_documented_with_its_roles(client):
    from services.http.access import api_routes

    documented = client.get("/openapi.json").json()["paths"]
    for route in api_routes(client.app):
        if not route.include_in_schema:
            assert route.path == "/docs", route.path  # the documentation page itself, and nothing else
            continue
        for method in route.methods:
            operation = documented[route.path_format][method.lower()]
            assert operation["x-crossview-roles"], (method, route.path_format)


# API10:2023 Unsafe Consumption of APIs — what a provider sends is believed only when signed, and
# nothing of an unsigned or forged payload reaches the log.
def test_api10_a_forged_provider_payload_publishes_nothing():
    settings = Settings(twilio_auth_token="twilio-secret", public_base_url="http://testserver")
    with TestClient(create_app(lambda: embedded(settings, with_demo=False))) as client:
        log = client.app.state.crossview.ingest.publisher
        before = sum(len(log.records(t)) for t in settings.event_topics)
        answer = client.post(
            "/v1/ingest/twilio/sms",
            content=b"MessageSid=SM1&From=%2B33612345678&To=%2B33140000000&Body=STOP&SmsStatus=received",
            headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "forged"},
        )
        assert answer.status_code == 403
        assert sum(len(log.records(t)) for t in settings.event_topics) == before
