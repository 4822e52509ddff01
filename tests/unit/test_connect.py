"""Amazon Connect: anonymous contact events, then the contact record naming the caller, become one
call in the caller's timeline."""

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.connect import credentials_are_valid, parse
from channels.webhook_fields import PayloadError
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "connect"
KEY = "eventbridge-connection-key"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["Address", "Type", "x"]), inner),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def client():
    with TestClient(
        create_app(lambda: embedded(Settings(connect_api_key=KEY), with_demo=False)), headers=EVERY_ROLE
    ) as app:
        yield app


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_contact_events_and_the_record_parse_whatever_the_key_case():
    (answered,) = parse(fixture("connected_to_agent"))
    (ended,) = parse(fixture("disconnected"))
    (record,) = parse(fixture("contact_record"))
    assert (answered.status, answered.direction, answered.customer) == ("answered", "inbound", ())
    assert answered.system_address == "+33180000000"
    assert (ended.status, ended.duration_seconds, ended.channel) == ("completed", 307, "VOICE")
    assert record.customer == (("phone", "+33612345678"),)
    assert (record.duration_seconds, record.outcome, record.notes) == (
        307,
        "customer_disconnect",
        "Wants the spring catalogue; call back after the 1st.",
    )
    assert len({answered.key, ended.key, record.key}) == 3
    assert {answered.contact_id, ended.initial_contact_id, record.initial_contact_id} == {
        "11111111-1111-1111-1111-111111111111"
    }


def test_a_customer_id_set_by_the_flow_names_the_customer():
    event = json.loads(fixture("disconnected"))
    event["detail"]["CustomerId"] = "C-1042"
    (report,) = parse(json.dumps(event).encode())
    assert report.customer == (("customer", "C-1042"),)


def test_an_abandoned_call_says_so():
    event = json.loads(fixture("disconnected"))
    del event["detail"]["agentInfo"]
    (report,) = parse(json.dumps(event).encode())
    assert report.outcome == "abandoned in queue"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"nope", "body"),
        (b"[]", "body"),
        (b'{"detail-type": "EC2 Instance State-change Notification", "detail": {}}', "detail-type"),
        (b'{"detail-type": "Amazon Connect Contact Event", "id": "1", "detail": {}}', "detail.ContactId"),
        (b'[{"hello": 1}]', "0.detail-type"),
        (b'{"ContactId": "c", "DisconnectTimestamp": "yesterday"}', "DisconnectTimestamp"),
        (b'{"ContactId": "c", "DisconnectTimestamp": "2026-11-20T09:17:00"}', "DisconnectTimestamp"),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(body, field):
    with pytest.raises(PayloadError) as refused:
        parse(body)
    assert refused.value.field == field


def test_the_eventbridge_connection_authorises_by_api_key_or_basic():
    basic = "Basic " + base64.b64encode(f"eventbridge:{KEY}".encode()).decode()
    assert credentials_are_valid(KEY, None, KEY)
    assert credentials_are_valid(None, basic, KEY)
    assert not credentials_are_valid("other", basic, KEY)
    assert not credentials_are_valid(None, None, KEY)


def test_anonymous_events_join_the_caller_once_the_record_names_them():
    with TestClient(
        create_app(lambda: embedded(Settings(connect_api_key=KEY), with_demo=False)), headers=EVERY_ROLE
    ) as client:
        headers = {"x-api-key": KEY}
        for name in ("connected_to_agent", "disconnected"):
            assert client.post("/v1/ingest/connect", content=fixture(name), headers=headers).json() == {
                "accepted": 1,
                "ignored": 0,
            }
        (provisional,) = client.app.state.crossview.store._views
        assert client.post("/v1/ingest/connect", content=fixture("contact_record"), headers=headers).status_code == 200
        for name in ("connected_to_agent", "disconnected", "contact_record"):  # EventBridge and Kinesis retry
            assert client.post("/v1/ingest/connect", content=fixture(name), headers=headers).status_code == 200
        assert client.post("/v1/ingest/connect", content=fixture("disconnected")).status_code == 403
        caller = client.get("/v1/search", params={"q": "+33612345678"}).json()["results"][0]["person_id"]
        assert caller != provisional
        view = client.get(f"/v1/persons/{caller}").json()
        assert view["interactions"] == {"call": 1}  # one call, however many events told of it
        entries = client.get(f"/v1/persons/{caller}/timeline").json()["entries"]
        (row,) = [e for e in entries if e["channel"] == "call"]
        assert (row["status"], row["statuses"]) == ("completed", ["answered", "completed", "completed"])
        assert row["data"]["notes"].startswith("Wants the spring catalogue")


def test_an_anonymous_event_arriving_after_the_record_still_finds_the_caller():
    with TestClient(
        create_app(lambda: embedded(Settings(connect_api_key=KEY), with_demo=False)), headers=EVERY_ROLE
    ) as client:
        for name in ("contact_record", "connected_to_agent"):  # EventBridge does not keep the order
            assert (
                client.post("/v1/ingest/connect", content=fixture(name), headers={"x-api-key": KEY}).status_code == 200
            )
        (caller,) = client.app.state.crossview.store._views.values()  # nobody provisional was made
        assert caller.interactions == {"call": 1}  # one call


def test_a_chat_is_a_web_interaction_an_email_contact_an_email_and_a_task_is_ignored():
    def contact(channel: str, **detail) -> dict:
        event = json.loads(fixture("disconnected"))
        event["id"] = f"event-{channel}"
        event["detail"].update(channel=channel, contactId=f"contact-{channel}", **detail)
        return event

    email = {"CustomerEndpoint": {"Type": "EMAIL_ADDRESS", "Address": "fabien@fabulous-garden.example"}}
    reports = [contact("CHAT"), contact("EMAIL", **email), contact("EMAIL"), contact("TASK")]
    with TestClient(
        create_app(lambda: embedded(Settings(connect_api_key=KEY), with_demo=False)), headers=EVERY_ROLE
    ) as client:
        answer = client.post("/v1/ingest/connect", json=reports, headers={"x-api-key": KEY})
        assert answer.json() == {"accepted": 2, "ignored": 2}  # the task, and the email with no address
        caller = client.get("/v1/search", params={"q": "fabien@fabulous-garden.example"}).json()["results"][0]
        view = client.get(f"/v1/persons/{caller['person_id']}").json()
    assert view["interactions"] == {"email": 1}
    views = client.app.state.crossview.store._views.values()
    assert sorted(c for v in views for c in v.interactions) == ["email", "web"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["connected_to_agent", "disconnected", "contact_record"]),
    st.dictionaries(
        st.sampled_from(
            [
                "contactId",
                "ContactId",
                "eventType",
                "channel",
                "initiationMethod",
                "InitialContactId",
                "CustomerId",
                "CustomerEndpoint",
                "disconnectTimestamp",
                "DisconnectTimestamp",
                "DisconnectReason",
                "agentInfo",
                "tags",
                "Attributes",
            ]
        ),
        JSON,
        max_size=4,
    ),
)
def test_no_altered_report_crashes_the_parser_or_the_endpoint(client, name, changes):
    document = json.loads(fixture(name))
    (document.get("detail") or document).update(changes)
    try:
        parse(json.dumps(document).encode())
    except PayloadError as refused:
        assert refused.field
    answer = client.post("/v1/ingest/connect", json=document, headers={"x-api-key": KEY})
    assert answer.status_code in (200, 422), answer.text
