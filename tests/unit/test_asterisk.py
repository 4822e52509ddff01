"""Asterisk ARI events: a call's start, answer, note and end become one call row and one note."""

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from channels.asterisk import credentials_are_valid, parse
from channels.webhook_fields import PayloadError
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

CALL = (Path(__file__).parents[1] / "fixtures" / "asterisk" / "call.json").read_bytes()
SECRET = "ari-forwarder-secret"
AUTH = {"authorization": "Basic " + base64.b64encode(f"forwarder:{SECRET}".encode()).decode()}


def test_the_call_events_parse_and_other_ari_events_are_skipped():
    events = parse(CALL)
    assert [e.status for e in events] == ["ringing", "in-progress", "note", "completed"]
    end = events[-1]
    assert (end.duration_seconds, end.outcome, end.caller) == (312, "Normal Clearing", "+33612345678")
    assert events[2].notes.startswith("Asked about delivery times")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"nope", "body"),
        (b'{"no": "type"}', "type"),
        (b'[{"type": "StasisStart"}]', "0.channel.id"),
        (b'{"type": "StasisStart", "channel": {"id": "1"}}', "channel.caller.number"),
        (
            b'{"type": "StasisStart", "timestamp": "soon", "channel": {"id": "1", "caller": {"number": "+331"}}}',
            "timestamp",
        ),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field(body, field):
    with pytest.raises(PayloadError) as refused:
        parse(body)
    assert refused.value.field == field


def test_the_forwarder_authenticates_with_its_password():
    assert credentials_are_valid(AUTH["authorization"], SECRET)
    assert not credentials_are_valid(AUTH["authorization"], "other")
    assert not credentials_are_valid(None, SECRET)


def test_a_call_lands_as_one_row_with_its_duration_and_the_note_as_another():
    with TestClient(
        create_app(lambda: embedded(Settings(asterisk_secret=SECRET), with_demo=False)), headers=EVERY_ROLE
    ) as client:
        assert client.post("/v1/ingest/asterisk", content=CALL, headers=AUTH).json() == {"accepted": 4}
        assert client.post("/v1/ingest/asterisk", content=CALL, headers=AUTH).status_code == 200  # a retry
        assert client.post("/v1/ingest/asterisk", content=CALL).status_code == 403
        (person,) = client.app.state.crossview.store._views
        rows = [e for e in client.get(f"/v1/persons/{person}/timeline").json()["entries"] if e["channel"] == "call"]
        assert [(r["status"], r["statuses"]) for r in rows] == [
            ("completed", ["ringing", "in-progress", "completed"]),
            ("note", ["note"]),
        ]
        assert rows[0]["data"]["duration_seconds"] == 312
        assert json.loads(json.dumps(rows[1]["data"]))["notes"].startswith("Asked about delivery")
        # one interaction per timeline row: the call and its note, not its four status reports
        assert client.get(f"/v1/persons/{person}").json()["interactions"] == {"call": len(rows)} == {"call": 2}
