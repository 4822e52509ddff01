"""The edge: bounded bodies and nesting on every route, credentials before bodies, signatures over
the configured URL, and nothing a client sends that makes a server error."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient

from channels import twilio
from channels.client import CrossviewClient, RefusedEvent
from schemas.envelope import CloudEvent
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.fuzzing import SECRETS
from tests.tokens import EVERY_ROLE

WEBHOOKS = [
    "/v1/ingest/twilio/sms",
    "/v1/ingest/twilio/voice",
    "/v1/ingest/vonage/sms",
    "/v1/ingest/sendgrid",
    "/v1/ingest/mailgun",
    "/v1/ingest/ses",
    "/v1/ingest/segment",
    "/v1/ingest/asterisk",
    "/v1/ingest/connect",
]
DEEP = b"[" * 50_000 + b"]" * 50_000


def client_with(**settings) -> TestClient:
    return TestClient(
        create_app(lambda: embedded(Settings(**settings), with_demo=False)),
        raise_server_exceptions=False,
        headers=EVERY_ROLE,
    )


@pytest.fixture
def signed():
    with client_with(**SECRETS) as client:
        yield client


@pytest.fixture
def unsigned():
    with client_with(insecure_skip_signatures=True, max_body_bytes=10_000) as client:
        yield client


@pytest.mark.parametrize("path", [*WEBHOOKS, "/v1/events", "/v1/persons", "/v1/targetings"])
def test_json_nested_deeper_than_the_limit_is_refused_before_any_parser_reads_it(unsigned, path):
    answer = unsigned.post(path, content=b'{"a":' * 40 + b"1" + b"}" * 40, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["title"] == "Too deeply nested"
    assert unsigned.post(path, content=DEEP).status_code in (413, 422)


def test_a_body_over_the_limit_is_refused_whether_its_length_is_declared_or_not(unsigned):
    big = json.dumps([{"x": "y" * 100}] * 200).encode()
    assert unsigned.post("/v1/events", content=big).status_code == 413
    answer = unsigned.post("/v1/events", content=iter([big[:5000], big[5000:]]))  # chunked: no length
    assert answer.status_code == 413 and "CROSSVIEW_MAX_BODY_BYTES" in answer.json()["detail"]
    assert unsigned.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}).status_code == 201


@pytest.mark.parametrize("path", WEBHOOKS)
@pytest.mark.parametrize("value", ["é".encode("latin-1"), "sig☃".encode(), b"\xff\xfe", b"Basic \xe9\xe9"])
def test_a_credential_header_of_any_bytes_is_refused_as_forged_not_crashed(signed, path, value):
    headers = {
        name: value
        for name in (
            "x-twilio-signature",
            "x-twilio-email-event-webhook-signature",
            "x-twilio-email-event-webhook-timestamp",
            "authorization",
            "x-api-key",
        )
    }
    answer = signed.post(path, content=b'{"type": "identify"}', headers=headers)
    assert 400 <= answer.status_code < 500, answer.text


@pytest.mark.parametrize(
    "path", ["/v1/ingest/segment", "/v1/ingest/asterisk", "/v1/ingest/connect", "/v1/ingest/sendgrid"]
)
def test_credentials_in_headers_are_checked_before_the_body_is_parsed(signed, path):
    answer = signed.post(
        path, content=b"{not json", headers={"authorization": "Basic " + base64.b64encode(b"x:y").decode()}
    )
    assert answer.status_code == 403, answer.text


def test_twilios_signature_covers_the_configured_public_url_never_the_host_header(signed):
    form = b"MessageSid=SM1&SmsStatus=received&From=%2B33612345678&To=%2B33140000000&Body=Bonjour"
    params = parse_qsl(form.decode())
    headers = {"content-type": "application/x-www-form-urlencoded", "host": "forger.example"}
    forged = twilio.signature("http://forger.example/v1/ingest/twilio/sms", params, SECRETS["twilio_auth_token"])
    answer = signed.post("/v1/ingest/twilio/sms", content=form, headers={**headers, "x-twilio-signature": forged})
    assert answer.status_code == 403
    genuine = twilio.signature("https://crm.example.org/v1/ingest/twilio/sms", params, SECRETS["twilio_auth_token"])
    answer = signed.post("/v1/ingest/twilio/sms", content=form, headers={**headers, "x-twilio-signature": genuine})
    assert answer.status_code == 200, answer.text


def test_twilio_without_a_public_base_url_is_refused_naming_the_setting():
    with client_with(twilio_auth_token="twilio-token") as client:
        answer = client.post("/v1/ingest/twilio/sms", content=b"MessageSid=SM1")
    assert answer.status_code == 403
    assert "CROSSVIEW_PUBLIC_BASE_URL" in answer.json()["detail"]


@pytest.mark.parametrize(
    "cursor",
    [
        json.dumps(["2026-11-20T10:00:00", "e1"]),  # no time zone
        json.dumps([3, "e1"]),
        json.dumps(["2026-11-20T10:00:00+00:00", {"a": 1}]),
        "[" * 200 + "]" * 200,
        "\ud800",
    ],
)
def test_a_timeline_cursor_that_is_not_one_of_ours_is_a_422(unsigned, cursor):
    person = unsigned.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}).json()["id"]
    encoded = base64.urlsafe_b64encode(cursor.encode("utf-8", "surrogatepass")).decode()
    answer = unsigned.get(f"/v1/persons/{person}/timeline", params={"before": encoded})
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("get", "/v1/search?q=%00", None, "query"),
        ("get", "/v1/persons/%00", None, "path"),
        ("post", "/v1/persons", b'{"given_name": "Fabien\\u0000", "family_name": "Bellemare"}', "body"),
        ("post", "/v1/targetings", b'{"organisation_ids": ["\\ud800"]}', "body"),
        (
            "post",
            "/v1/ingest/twilio/sms",
            b"MessageSid=SM1&SmsStatus=received&From=%2B33612345678&To=1&Body=%00",
            "body",
        ),
        ("post", "/v1/ingest/segment", b'{"type": "page", "messageId": "m\\u0000", "anonymousId": "a"}', "body"),
    ],
)
def test_what_no_stored_text_can_hold_is_refused_at_the_edge(unsigned, method, path, body, where):
    answer = unsigned.request(method, path, content=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["title"] == "Not text Crossview can keep"
    assert [error["field"] for error in answer.json()["errors"]] == [where]  # the part that holds it


def test_an_escaped_backslash_before_u0000_and_an_emoji_escaped_as_a_pair_are_text(unsigned):
    body = b'{"given_name": "Fabien \\\\u0000", "family_name": "\\ud83d\\ude00"}'
    answer = unsigned.post("/v1/persons", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 201, answer.text


def test_an_event_time_out_of_the_calendar_once_in_utc_is_refused(unsigned):
    event = {
        "id": "e1",
        "source": "test",
        "type": "crossview.interaction.sms.v1",
        "subject": "p1",
        "time": "0001-01-01T00:00:00+14:00",  # year 0 in UTC
        "data": {
            "direction": "inbound",
            "provider": "t",
            "provider_id": "1",
            "status": "received",
            "from_number": "+33612345678",
            "to_number": "+33140000000",
        },
    }
    answer = unsigned.post("/v1/events", json=event)
    assert answer.status_code == 422 and "calendar" in answer.text


@pytest.mark.parametrize("text", ["Bonjour\u0000", "\ud800"])
def test_the_python_client_refuses_what_no_view_can_hold_before_it_reaches_kafka(text):
    event = CloudEvent(
        id="e1",
        source="test",
        type="crossview.interaction.sms.v1",
        subject="p1",
        time="2026-11-20T10:00:00+00:00",
        data={
            "direction": "inbound",
            "provider": "t",
            "provider_id": "1",
            "status": "received",
            "from_number": "+33612345678",
            "to_number": "+33140000000",
            "body": text,
        },
    )
    with pytest.raises(RefusedEvent, match="NUL"):
        CrossviewClient._check(event)


BIG_INTEGER = b'{"x": ' + b"9" * 4301 + b"}"  # past the digits Python converts


@pytest.mark.parametrize("path", [*WEBHOOKS, "/v1/events", "/v1/persons", "/v1/targetings"])
def test_an_integer_longer_than_python_converts_is_a_422_problem_not_a_500(unsigned, path):
    answer = unsigned.post(path, content=BIG_INTEGER, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text


def test_a_body_that_is_not_utf_8_json_is_a_problem_naming_the_body(unsigned):
    fabien = unsigned.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}).json()["id"]
    answer = unsigned.put(
        f"/v1/persons/{fabien}/name",
        content=b'{"given_name":"\xff","family_name":"b"}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"] == "body"


def test_no_route_and_a_method_not_allowed_are_problems_with_the_protective_headers(unsigned):
    for answer, status in ((unsigned.get("/v1/nowhere"), 404), (unsigned.delete("/v1/health"), 405)):
        assert answer.status_code == status and answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == status and answer.headers["x-content-type-options"] == "nosniff"
