"""Twilio SMS webhooks: signatures (Twilio's own vectors), parsing, and the endpoint on the embedded default."""

from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from channels.twilio import parse_sms, signature, signature_is_valid
from channels.webhook_fields import PayloadError
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "twilio"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
TOKEN = "12345"
ENDPOINT = "http://testserver/v1/ingest/twilio/sms"


def form(name: str) -> bytes:
    return (FIXTURES / f"{name}.form").read_bytes()


def test_the_signature_matches_twilios_published_vectors():
    assert signature(VECTOR_URL, VECTOR_PARAMS, TOKEN) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert signature(VECTOR_URL, repeated, TOKEN) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_a_signature_fails_on_any_change_or_when_missing():
    good = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature_is_valid(VECTOR_URL, VECTOR_PARAMS, TOKEN, good)
    assert not signature_is_valid(VECTOR_URL + "&x=1", VECTOR_PARAMS, TOKEN, good)
    assert not signature_is_valid(VECTOR_URL, [*VECTOR_PARAMS[:-1], ("To", "+1")], TOKEN, good)
    assert not signature_is_valid(VECTOR_URL, VECTOR_PARAMS, "other", good)
    assert not signature_is_valid(VECTOR_URL, VECTOR_PARAMS, TOKEN, None)


def test_an_inbound_message_is_from_the_customer_and_a_status_is_to_them():
    inbound = parse_sms(parse_qsl(form("inbound_sms").decode()))
    assert (inbound.direction, inbound.status, inbound.customer_number, inbound.body) == (
        "inbound",
        "received",
        "+33612345678",
        "STOP les promos merci",
    )
    delivered = parse_sms(parse_qsl(form("status_delivered").decode()))
    assert (delivered.direction, delivered.status, delivered.customer_number) == (
        "outbound",
        "delivered",
        "+33612345678",
    )
    assert parse_sms(parse_qsl(form("status_undelivered").decode())).error_code == "30003"


@pytest.mark.parametrize(
    ("missing", "dropped"),
    [("MessageSid", {"MessageSid", "SmsSid"}), ("From", {"From"}), ("To", {"To"}), ("MessageStatus", {"SmsStatus"})],
)
def test_a_form_without_a_required_field_is_refused_naming_it(missing, dropped):
    fields = [(k, v) for k, v in parse_qsl(form("inbound_sms").decode()) if k not in dropped]
    with pytest.raises(PayloadError) as refused:
        parse_sms(fields)
    assert refused.value.field == missing


@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=12))
def test_the_parser_never_crashes_on_any_form(fields):
    try:
        report = parse_sms(fields)
    except PayloadError as refused:
        assert refused.field in {"MessageSid", "MessageStatus", "From", "To"}
    else:
        assert report.message_sid and report.direction in {"inbound", "outbound"}


@pytest.fixture
def client():
    app = create_app(
        lambda: embedded(Settings(twilio_auth_token=TOKEN, public_base_url="http://testserver"), with_demo=False)
    )
    with TestClient(app, headers=EVERY_ROLE) as client:
        yield client


def post(client, body: bytes, token: str | None = TOKEN, url: str = ENDPOINT):
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if token:
        headers["x-twilio-signature"] = signature(url, parse_qsl(body.decode(), keep_blank_values=True), token)
    return client.post(ENDPOINT, content=body, headers=headers)


def test_a_signed_inbound_sms_lands_in_the_view_of_a_provisional_person(client):
    answer = post(client, form("inbound_sms"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    store = client.app.state.crossview.store
    (view,) = [v for v in store._views.values()]
    assert view.provisional and view.interactions == {"sms": 1}
    assert view.last_interaction.direction == "inbound"


def test_the_same_phone_number_is_the_same_person_across_inbound_and_status_callbacks(client):
    for name in ("inbound_sms", "status_sent", "status_delivered"):
        assert post(client, form(name)).status_code == 200
    (view,) = list(client.app.state.crossview.store._views.values())
    assert view.interactions == {"sms": 2}  # the inbound SMS, and one sent with its two callbacks


def test_a_retried_webhook_counts_once(client):
    for _ in range(3):
        assert post(client, form("status_delivered")).status_code == 200
    (view,) = list(client.app.state.crossview.store._views.values())
    assert view.interactions == {"sms": 1}


def test_a_bad_or_missing_signature_is_refused_and_nothing_is_published(client):
    assert post(client, form("inbound_sms"), token="wrong").status_code == 403
    answer = post(client, form("inbound_sms"), token=None)
    assert answer.status_code == 403 and answer.json()["errors"][0]["field"] == "header.X-Twilio-Signature"
    assert client.app.state.crossview.store.position() == {}


def test_without_an_auth_token_every_webhook_is_refused_unless_the_operator_opts_out():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=False)), headers=EVERY_ROLE) as closed:
        answer = post(closed, form("inbound_sms"))
        assert answer.status_code == 403 and "CROSSVIEW_TWILIO_AUTH_TOKEN" in answer.json()["detail"]
    with TestClient(
        create_app(lambda: embedded(Settings(insecure_skip_signatures=True), with_demo=False)), headers=EVERY_ROLE
    ) as opened:
        assert post(opened, form("inbound_sms"), token=None).status_code == 200


def test_an_oversized_body_is_refused_before_it_is_read(client):
    answer = post(client, b"Body=" + b"x" * 1_100_000)
    assert answer.status_code == 413


def test_a_form_that_is_not_a_twilio_sms_is_a_422_naming_the_field(client):
    answer = post(client, b"Hello=World")
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "form.MessageSid"


def test_a_message_sent_then_delivered_is_one_timeline_row_with_its_latest_status(client):
    for name in ("status_sent", "status_delivered"):
        assert post(client, form(name)).status_code == 200
    (person,) = client.app.state.crossview.store._views
    entries = client.get(f"/v1/persons/{person}/timeline").json()["entries"]
    sms = [e for e in entries if e["channel"] == "sms"]
    assert [(e["status"], e["statuses"]) for e in sms] == [("delivered", ["sent", "delivered"])]


def test_a_call_is_one_timeline_row_ending_completed_with_its_duration(client):
    for name in ("call_ringing", "call_completed"):
        answer = client.post(
            "/v1/ingest/twilio/voice",
            content=form(name),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-twilio-signature": signature(
                    "http://testserver/v1/ingest/twilio/voice",
                    parse_qsl(form(name).decode(), keep_blank_values=True),
                    TOKEN,
                ),
            },
        )
        assert answer.status_code == 200, answer.text
    (person,) = client.app.state.crossview.store._views
    (call,) = [e for e in client.get(f"/v1/persons/{person}/timeline").json()["entries"] if e["channel"] == "call"]
    assert (call["channel"], call["status"], call["statuses"]) == ("call", "completed", ["ringing", "completed"])
    assert (call["data"]["duration_seconds"], call["data"]["outcome"]) == (312, "answered")
    assert call["occurred_at"].startswith("2026-11-20T10:05:12")


def test_a_voice_callback_without_a_call_sid_is_a_422():
    from channels.twilio import parse_call

    with pytest.raises(PayloadError) as refused:
        parse_call([("CallStatus", "completed"), ("From", "+33612345678"), ("To", "+33140000000")])
    assert refused.value.field == "CallSid"


@pytest.mark.parametrize("duration", ["9" * 4301, "9" * 10, "²", "٣", "-5", "1.5"])
def test_a_call_duration_that_is_no_whole_number_of_seconds_is_refused_naming_it(duration):
    from channels.twilio import parse_call

    fields = [("CallSid", "CA1"), ("CallStatus", "completed"), ("To", "+33140000000"), ("CallDuration", duration)]
    with pytest.raises(PayloadError) as refused:
        parse_call(fields)
    assert refused.value.field == "CallDuration"
    assert parse_call([*fields[:3], ("CallDuration", "312")]).duration_seconds == 312
