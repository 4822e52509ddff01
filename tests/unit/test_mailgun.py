"""Mailgun webhooks: HMAC-SHA256 signatures, single-use tokens, the events into views and consent."""

import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from channels.kafka import BrokerUnavailable
from channels.mailgun import parse, signature_is_valid
from channels.webhook_fields import PayloadError
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mailgun"
KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def signed(name: str, token: str | None = None, timestamp: int | None = None, key: str = KEY) -> bytes:
    timestamp = str(timestamp or int(time.time()))
    token = token or uuid.uuid4().hex
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data = json.loads((FIXTURES / f"event_{name}.json").read_text())
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": data}
    ).encode()


def test_the_signature_is_hmac_sha256_of_timestamp_and_token():
    event = parse(signed("delivered", token="t0k3n", timestamp=1763632800))
    assert signature_is_valid(KEY, "1763632800", "t0k3n", event.signature)
    assert not signature_is_valid("other-key", "1763632800", "t0k3n", event.signature)
    assert not signature_is_valid(KEY, "1763632801", "t0k3n", event.signature)


def test_a_permanent_failure_is_a_hard_bounce():
    event = parse(signed("failed_permanent"))
    assert (event.status, event.bounce_type, event.reason) == ("bounce", "bounce", "No such mailbox")
    assert parse(signed("clicked")).url == "https://shop.example/irrigation"
    assert parse(signed("opened")).campaign == "spring-promo"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"nope", "body"),
        (b"[]", "body"),
        (b'{"signature": {}}', "event-data"),
        (b'{"signature": {"timestamp": "1", "token": "t"}, "event-data": {}}', "signature.signature"),
    ],
)
def test_a_malformed_webhook_is_refused_naming_the_field(body, field):
    with pytest.raises(PayloadError) as refused:
        parse(body)
    assert refused.value.field == field


@pytest.fixture
def client():
    with TestClient(
        create_app(lambda: embedded(Settings(mailgun_signing_key=KEY), with_demo=False)), headers=EVERY_ROLE
    ) as c:
        yield c


def post(client, body: bytes):
    return client.post("/v1/ingest/mailgun", content=body, headers={"content-type": "application/json"})


def test_every_event_lands_in_one_view_and_a_hard_bounce_makes_the_address_unreachable(client):
    for name in ("delivered", "opened", "clicked", "failed_permanent"):
        assert post(client, signed(name)).status_code == 200
    (view,) = client.app.state.crossview.store._views.values()
    assert view.interactions == {"email": 1}  # one message, four reports
    state = view.reachability["email:fabien@fabulous-garden.example"]
    assert (state["reachable"], state["reason"]) == (False, "hard bounce: No such mailbox")


def test_a_replayed_token_a_bad_signature_and_a_stale_timestamp_are_refused(client):
    body = signed("delivered", token="once")
    assert post(client, body).status_code == 200
    replay = post(client, body)
    assert (replay.status_code, replay.json()["title"]) == (403, "Replayed webhook")
    assert post(client, signed("opened", key="not-the-key")).status_code == 403
    stale = post(client, signed("opened", timestamp=int(time.time()) - 7200))
    assert (stale.status_code, stale.json()["title"]) == (403, "Stale webhook")
    (view,) = client.app.state.crossview.store._views.values()
    assert view.interactions == {"email": 1}


def test_a_webhook_refused_by_an_unavailable_broker_passes_when_mailgun_retries_it(client):
    ingest = client.app.state.crossview.ingest
    publish, body = ingest.publish, signed("delivered", token="retried")

    def unavailable(events):
        raise BrokerUnavailable("the broker did not answer")

    ingest.publish = unavailable
    assert post(client, body).status_code == 503
    ingest.publish = publish
    assert post(client, body).status_code == 200  # the same token: the first try was not accepted
    assert post(client, body).status_code == 403  # but it is used now


def test_a_temporary_failure_is_no_bounce_the_address_stays_reachable_and_the_campaign_unbounced(client):
    # Mailgun retries a temporary failure itself; it used to fold as a hard bounce (issue 10).
    assert parse(signed("failed_temporary")).status == "failed"
    for name in ("delivered", "failed_temporary"):
        assert post(client, signed(name)).status_code == 200
    (view,) = client.app.state.crossview.store._views.values()
    assert view.reachability.get("email:fabien@fabulous-garden.example", {}).get("reachable", True) is True
    email = client.get("/v1/campaigns/spring-promo").json()["channels"]["email"]
    assert (email["counts"]["sent"], email["counts"]["bounced"]) == (1, 0)
    timeline = client.app.state.crossview.store.timeline(view.person_id, 10)
    (row,) = [row for row in timeline if row.channel == "email"]  # one message: delivered
    assert (row.status, row.statuses) == ("delivered", ("failed", "delivered"))
    assert row.data["canonical_status"] == "delivered"
