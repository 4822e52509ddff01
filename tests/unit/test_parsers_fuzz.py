"""No input crashes a provider parser: it parses, or refuses naming a field. (Twilio and Segment
have their own fuzz tests beside their other tests.)"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels import asterisk, mailgun, sendgrid, ses, vonage
from channels.webhook_fields import PayloadError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=200)
@given(JSON)
def test_sendgrid(document):
    try:
        events = sendgrid.parse_events(json.dumps(document).encode())
    except PayloadError as refused:
        assert refused.field
    else:
        assert all(e.event_id and e.address for e in events)


@settings(max_examples=200)
@given(JSON)
def test_mailgun(document):
    try:
        event = mailgun.parse(json.dumps(document).encode())
    except PayloadError as refused:
        assert refused.field
    else:
        assert event.event_id and event.token


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["msisdn", "to", "messageId", "text", "status", "message-timestamp", "x"]),
        st.text(max_size=20),
        max_size=7,
    )
)
def test_vonage(params):
    try:
        report = vonage.parse(params)
    except PayloadError as refused:
        assert refused.field
    else:
        assert report.message_id and report.direction in {"inbound", "outbound"}


@settings(max_examples=200)
@given(JSON, st.text(max_size=10))
def test_ses(document, message_id):
    try:
        events = ses.parse_ses(json.dumps(document), message_id)
    except PayloadError as refused:
        assert refused.field
    else:
        assert all(e.address for e in events)
    try:
        ses.parse_envelope(json.dumps(document).encode())
    except PayloadError as refused:
        assert refused.field


@settings(max_examples=200)
@given(JSON)
def test_asterisk(document):
    try:
        events = asterisk.parse(json.dumps(document).encode())
    except PayloadError as refused:
        assert refused.field
    else:
        assert all(e.caller and e.call_id for e in events)


def test_timestamps_out_of_any_calendar_are_refused_not_crashed():
    event = {"email": "a@b.example", "event": "open", "sg_event_id": "x", "timestamp": 1e300}
    with pytest.raises(PayloadError) as refused:
        sendgrid.parse_events(json.dumps([event]).encode())
    assert refused.value.field == "0.timestamp"
    body = {
        "signature": {"timestamp": "1", "token": "t", "signature": "s"},
        "event-data": {"event": "opened", "id": "i", "recipient": "a@b.example", "timestamp": -1e300},
    }
    with pytest.raises(PayloadError) as refused:
        mailgun.parse(json.dumps(body).encode())
    assert refused.value.field == "event-data.timestamp"
