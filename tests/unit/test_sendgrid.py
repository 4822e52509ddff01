"""SendGrid Event Webhook: SendGrid's own signed example, every event kind, the endpoint's refusals."""

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from channels.sendgrid import parse_events, signature_is_valid
from channels.webhook_fields import PayloadError
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sendgrid"
VECTOR = json.loads((FIXTURES / "signed_dropped.json").read_text())
BATCH = (FIXTURES / "batch.json").read_bytes()


def test_sendgrids_own_signed_example_verifies_and_any_change_fails():
    body, sig, ts, key = VECTOR["body"].encode(), VECTOR["signature"], VECTOR["timestamp"], VECTOR["public_key"]
    assert signature_is_valid(body, sig, ts, key)
    assert not signature_is_valid(b"payload", sig, ts, key)
    assert not signature_is_valid(body, sig, "timestamp", key)
    assert not signature_is_valid(body, None, ts, key)
    assert not signature_is_valid(body, "not base64!", ts, key)


def test_every_documented_event_kind_parses():
    kinds = [e.status for e in parse_events(BATCH)]
    assert kinds == [
        "processed",
        "delivered",
        "open",
        "click",
        "deferred",
        "bounce",
        "dropped",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
    ]
    click = parse_events(BATCH)[3]
    assert (click.url, click.campaign, click.message_id) == (
        "https://shop.example/irrigation",
        "spring-promo",
        "14c5d75ce93",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"event": "open"}', "body"),
        (b"[1]", "0"),
        (b'[{"event": "open", "sg_event_id": "x", "timestamp": 1}]', "0.email"),
        (b'[{"email": "a@b.example", "event": "open", "sg_event_id": "x", "timestamp": "soon"}]', "0.timestamp"),
    ],
)
def test_a_malformed_batch_is_refused_naming_the_field(body, field):
    with pytest.raises(PayloadError) as refused:
        parse_events(body)
    assert refused.value.field == field


KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def signed(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signature = base64.b64encode(KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return {
        "content-type": "application/json",
        "x-twilio-email-event-webhook-signature": signature,
        "x-twilio-email-event-webhook-timestamp": timestamp,
    }


@pytest.fixture
def client():
    with TestClient(
        create_app(lambda: embedded(Settings(sendgrid_verification_key=PUBLIC), with_demo=False)), headers=EVERY_ROLE
    ) as c:
        yield c


def test_a_signed_batch_lands_in_one_persons_view_with_its_consent_changes(client):
    answer = client.post("/v1/ingest/sendgrid", content=BATCH, headers=signed(BATCH))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 11}
    (view,) = client.app.state.crossview.store._views.values()
    assert view.interactions == {"email": 1}  # one message, eleven reports
    state = view.reachability["email:fabien@fabulous-garden.example"]
    assert state["reachable"] is True and state["reason"] == "resubscribed"  # the last event of the batch


def test_a_redelivered_batch_counts_once(client):
    for _ in range(2):
        assert client.post("/v1/ingest/sendgrid", content=BATCH, headers=signed(BATCH)).status_code == 200
    (view,) = client.app.state.crossview.store._views.values()
    assert view.interactions == {"email": 1}  # one message, eleven reports


def test_bad_missing_or_stale_signatures_are_refused_and_nothing_is_published(client):
    assert (
        client.post(
            "/v1/ingest/sendgrid",
            content=BATCH,
            headers={**signed(BATCH), "x-twilio-email-event-webhook-signature": "AAAA"},
        ).status_code
        == 403
    )
    assert (
        client.post("/v1/ingest/sendgrid", content=BATCH, headers={"content-type": "application/json"}).status_code
        == 403
    )
    stale = client.post("/v1/ingest/sendgrid", content=BATCH, headers=signed(BATCH, str(int(time.time()) - 3600)))
    assert stale.status_code == 403 and stale.json()["title"] == "Stale webhook"
    assert client.app.state.crossview.store.position() == {}


def test_a_batch_with_one_bad_event_publishes_nothing(client):
    events = json.loads(BATCH)
    del events[4]["email"]
    body = json.dumps(events).encode()
    answer = client.post("/v1/ingest/sendgrid", content=body, headers=signed(body))
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body.4.email"
    assert client.app.state.crossview.store.position() == {}


def test_without_a_verification_key_sendgrid_is_refused():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=False)), headers=EVERY_ROLE) as closed:
        answer = closed.post("/v1/ingest/sendgrid", content=BATCH, headers=signed(BATCH))
        assert answer.status_code == 403 and "CROSSVIEW_SENDGRID_VERIFICATION_KEY" in answer.json()["detail"]


def test_an_email_carried_by_a_function_attributes_its_events_to_that_function():
    from tests.scenario import Scenario

    settings = Settings(sendgrid_verification_key=PUBLIC)
    with TestClient(create_app(lambda: embedded(settings, with_demo=False)), headers=EVERY_ROLE) as client:
        scenario = Scenario(client)
        ids = scenario.build()
        garden = ids["fn"]["Fabulous Garden"]
        scenario.command(
            "put",
            f"/v1/persons/{ids['fabien']}/attributes/email",
            {"value": "Fabien@Fabulous-Garden.example", "function_id": garden},
        )
        assert client.post("/v1/ingest/sendgrid", content=BATCH, headers=signed(BATCH)).status_code == 200
        view = client.get(f"/v1/persons/{ids['fabien']}", params={"as_of": "2026-11-23"}).json()
        assert view["interactions"] == {"email": 1}
        by_function = {f["organisation"]["name"]: f["interactions"] for f in view["functions"]}
        assert by_function == {"Fabulous Garden": {"email": 1}, "Social Networks": {}, "Croissance+": {}}
        assert len(client.app.state.crossview.store._views) == 1  # no provisional person was made


def test_campaign_indicators_count_each_person_once_per_indicator(client):
    events = json.loads(BATCH)
    second_person = [
        {**e, "email": "claire@example.org", "sg_event_id": e["sg_event_id"] + "-c"}
        for e in events
        if e["event"] in ("processed", "delivered", "open", "open", "click")
    ]
    body = json.dumps(events + second_person + [{**events[2], "sg_event_id": "another-open"}]).encode()
    assert client.post("/v1/ingest/sendgrid", content=body, headers=signed(body)).status_code == 200
    email = client.get("/v1/campaigns/spring-promo").json()["channels"]["email"]
    assert email["counts"] == {
        "sent": 2,
        "delivered": 2,
        "opened": 2,
        "clicked": 2,
        "bounced": 1,
        "unsubscribed": 1,
        "complaints": 1,
    }
    assert email["rates"]["bounced"] == 0.5 and email["rates"]["opened"] == 1.0
    assert client.get("/v1/campaigns/nothing-like-it").status_code == 404
