"""POST /v1/events in the three content modes of the CloudEvents HTTP binding, each produced by the
official CloudEvents Python SDK: structured, binary (ce-* headers) and batched. The same event sent
in every mode is one event in the view; `time` may be left out (stamped on arrival)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from channels.cloudevents_http import BATCH, NotCloudEvents, received
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

SMS_TYPE = "crossview.interaction.sms.v1"


def sms_data(provider_id: str) -> dict:
    return {
        "direction": "inbound",
        "provider": "twilio",
        "provider_id": provider_id,
        "status": "received",
        "from_number": "+33612345678",
        "to_number": "+33140000000",
        "body": "Bonjour",
    }


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings())), headers=EVERY_ROLE) as client:
        yield client


@pytest.fixture
def fabien(client):
    return client.app.state.crossview.demo.fabien


def event(subject: str, event_id: str, **attributes) -> CloudEvent:
    return CloudEvent(
        attributes={"id": event_id, "source": "sms-gateway", "type": SMS_TYPE, "subject": subject, **attributes},
        data=sms_data(event_id),
    )


def post(client, message):
    return client.post("/v1/events", content=message.body, headers=dict(message.headers))


def batch(*events: CloudEvent) -> tuple[bytes, dict]:
    body = b"[" + b",".join(JSONFormat().write(e) for e in events) + b"]"
    return body, {"content-type": BATCH}


def sms_count(client, person: str) -> int:
    return client.get(f"/v1/persons/{person}").json()["interactions"]["sms"]


def test_the_same_event_in_structured_binary_and_batched_mode_is_accepted_and_counted_once(client, fabien):
    before = sms_count(client, fabien)
    the_event = event(fabien, "gw-1")
    structured = post(client, to_structured(the_event, JSONFormat()))
    binary = post(client, to_binary(the_event, JSONFormat()))
    body, headers = batch(the_event)
    batched = client.post("/v1/events", content=body, headers=headers)
    assert [a.status_code for a in (structured, binary, batched)] == [202, 202, 202], binary.text
    assert structured.json()["ids"] == binary.json()["ids"] == batched.json()["ids"] == ["gw-1"]
    assert sms_count(client, fabien) == before + 1  # the retries in other modes are duplicates


def test_a_binary_event_without_time_is_stamped_on_arrival(client, fabien):
    message = to_binary(event(fabien, "gw-2"), JSONFormat())
    headers = {k: v for k, v in message.headers.items() if k != "ce-time"}  # other SDKs leave it out
    answer = client.post("/v1/events", content=message.body, headers=headers)
    assert answer.status_code == 202 and answer.json()["time_sources"] == ["arrival"]
    with_time = post(
        client, to_binary(event(fabien, "gw-3", time=datetime.fromisoformat("2026-11-20T10:00:00+00:00")), JSONFormat())
    )
    assert with_time.json()["time_sources"] == ["event"]
    assert with_time.json()["times"] == ["2026-11-20T10:00:00Z"]


def test_binary_headers_are_percent_decoded_and_extensions_accepted(client, fabien):
    message = to_binary(event(fabien, "gw 4 é", traceparent="00-abc-def-01"), JSONFormat())
    assert "%" in message.headers["ce-id"]
    answer = post(client, message)
    assert answer.status_code == 202 and answer.json()["ids"] == ["gw 4 é"]


def test_a_batch_with_one_bad_event_is_refused_whole_naming_it(client, fabien):
    before = sms_count(client, fabien)
    bad = CloudEvent(
        attributes={"id": "gw-6", "source": "sms-gateway", "type": SMS_TYPE, "subject": fabien},
        data={**sms_data("gw-6"), "direction": "sideways"},
    )
    body, headers = batch(event(fabien, "gw-5"), bad)
    answer = client.post("/v1/events", content=body, headers=headers)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["body.1.data.direction"]
    assert sms_count(client, fabien) == before


def test_a_binary_event_names_the_header_or_the_body_field_at_fault(client, fabien):
    message = to_binary(event(fabien, "gw-7"), JSONFormat())
    headers = {k: v for k, v in message.headers.items() if k != "ce-subject"}
    answer = client.post("/v1/events", content=message.body, headers=headers)
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["header.ce-subject"]
    data = json.loads(message.body)
    del data["to_number"]
    answer = client.post("/v1/events", content=json.dumps(data), headers=dict(message.headers))
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["body.to_number"]
    unknown = client.post("/v1/events", content=message.body, headers={**message.headers, "ce-type": "x.fax.v1"})
    assert [e["field"] for e in unknown.json()["errors"]] == ["header.ce-type"]


@pytest.mark.parametrize(
    "content_type, body, field",
    [
        ("application/cloudevents+json", b"[]", "body"),
        (BATCH, b"{}", "body"),
        ("text/plain", b"{}", "header.Content-Type"),
        ("application/cloudevents+json", b'{"specversion": "1.0", "data_base64": "eA=="}', "body.data_base64"),
    ],
)
def test_what_is_no_cloudevent_in_any_mode_is_a_422_naming_where(client, content_type, body, field):
    answer = client.post("/v1/events", content=body, headers={"content-type": content_type})
    assert answer.status_code == 422
    assert field in [e["field"] for e in answer.json()["errors"]]


HEADER_NAMES = st.sampled_from(
    ["content-type", "ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time", "ce-x"]
)


@given(
    st.dictionaries(HEADER_NAMES, st.text(max_size=40), max_size=8),
    st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode)),
)
def test_whatever_headers_and_body_arrive_the_reader_answers_events_or_says_where_it_is_wrong(headers, body):
    try:
        events = received(headers, body, datetime.fromisoformat("2026-11-30T10:00:00+00:00"))
    except NotCloudEvents as refused:
        assert refused.field
    else:
        assert all((item.event is None) == bool(item.errors) for item in events)
        assert all(field for item in events for field, _ in item.errors)
