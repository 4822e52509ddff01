"""A provider's payload that is well formed but incomplete is accepted (a provider retries, then
disables, a webhook that keeps failing); one that names no customer is recorded under the
provider's own id and counted per provider on /metrics; a malformed one is still refused."""

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def client():
    settings = Settings(insecure_skip_signatures=True)
    with TestClient(create_app(lambda: embedded(settings, with_demo=False)), headers=EVERY_ROLE) as c:
        yield c


def form(name: str, **changes: str | None) -> bytes:
    fields = dict(parse_qsl((FIXTURES / "twilio" / f"{name}.form").read_text(), keep_blank_values=True))
    fields.update(changes)
    return urlencode({k: v for k, v in fields.items() if v is not None}).encode()


def post_form(client, path: str, body: bytes):
    return client.post(path, content=body, headers={"content-type": "application/x-www-form-urlencoded"})


def unattributed(client, provider: str) -> float:
    found = re.search(
        rf'crossview_webhook_unattributed_total{{provider="{provider}"}} ([0-9.]+)', client.get("/metrics").text
    )
    return float(found.group(1)) if found else 0.0


def views(client):
    return list(client.app.state.crossview.store._views.values())


def test_a_twilio_status_callback_without_from_reaches_its_recipient(client):
    answer = post_form(client, "/v1/ingest/twilio/sms", form("status_sent", From=None))
    assert answer.status_code == 200, answer.text
    (view,) = views(client)
    assert view.interactions == {"sms": 1} and "phone:+33612345678" in view.contact_points
    assert unattributed(client, "twilio") == 0


@pytest.mark.parametrize("withheld", ["anonymous", "", None])
def test_a_twilio_call_with_a_withheld_caller_id_is_accepted_recorded_and_counted(client, withheld):
    answer = post_form(client, "/v1/ingest/twilio/voice", form("call_ringing", From=withheld))
    assert answer.status_code == 200, answer.text
    (view,) = views(client)
    assert view.interactions == {"call": 1} and view.provisional
    assert unattributed(client, "twilio") == 1


def asterisk_call(number: str) -> bytes:
    events = json.loads((FIXTURES / "asterisk" / "call.json").read_text())
    for event in events:
        event["channel"]["caller"]["number"] = number
    return json.dumps(events).encode()


def test_an_asterisk_call_with_an_empty_caller_number_is_accepted_recorded_and_counted(client):
    answer = client.post("/v1/ingest/asterisk", content=asterisk_call(""))
    assert answer.status_code == 200, answer.text
    (view,) = views(client)  # every event of the call reaches the same provisional person
    assert view.provisional and view.interactions["call"] >= 1
    assert unattributed(client, "asterisk") == answer.json()["accepted"] > 0


def test_an_asterisk_event_with_no_caller_at_all_is_still_refused_naming_the_field(client):
    answer = client.post("/v1/ingest/asterisk", content=b'{"type": "StasisStart", "channel": {"id": "1"}}')
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body.channel.caller.number"
    assert views(client) == []


@pytest.mark.parametrize("stamp", ["2026-11-20T10:01:00Z", "2026-11-20T10:01:00.000+00:00", "2026-11-20 10:01:00"])
def test_a_vonage_receipt_with_an_iso_8601_timestamp_is_accepted(client, stamp):
    receipt = {**json.loads((FIXTURES / "vonage" / "receipt_delivered.json").read_text()), "message-timestamp": stamp}
    answer = client.get("/v1/ingest/vonage/sms", params=receipt)
    assert answer.status_code == 200, answer.text
    (view,) = views(client)
    (row,) = [row for row in client.app.state.crossview.store.timeline(view.person_id, 10) if row.channel]
    assert row.occurred_at.isoformat().startswith("2026-11-20T10:01:00")


def test_a_vonage_receipt_with_a_timestamp_that_is_no_time_is_refused_naming_it(client):
    receipt = {**json.loads((FIXTURES / "vonage" / "receipt_delivered.json").read_text()), "message-timestamp": "soon"}
    answer = client.get("/v1/ingest/vonage/sms", params=receipt)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "message-timestamp"
    assert views(client) == []
