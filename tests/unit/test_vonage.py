"""Vonage SMS API webhooks: the SDK's signature vector, inbound messages and receipts, GET or POST."""

import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from channels.vonage import VonagePayloadError, parse, signature, signature_is_valid
from services.api import create_app
from services.bootstrap import embedded
from services.settings import Settings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vonage"
SECRET = "s3cr3t"


def fixture(name: str, **extra) -> dict[str, str]:
    params = {**json.loads((FIXTURES / f"{name}.json").read_text()), "timestamp": str(int(time.time())), **extra}
    return {**params, "sig": signature(params, SECRET)}


def test_the_signature_matches_vonages_published_vector():
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert signature(params, "secret") == "6af838ef94998832dbfc29020b564830"
    assert signature_is_valid({**params, "sig": "6AF838EF94998832DBFC29020B564830"}, "secret")
    assert not signature_is_valid({**params, "b": "3", "sig": "6af838ef94998832dbfc29020b564830"}, "secret")


def test_msisdn_is_the_customer_both_ways():
    inbound = parse(fixture("inbound"))
    assert (inbound.direction, inbound.status, inbound.from_number) == ("inbound", "received", "+33612345678")
    receipt = parse(fixture("receipt_delivered"))
    assert (receipt.direction, receipt.status, receipt.to_number) == ("outbound", "delivered", "+33612345678")
    with pytest.raises(VonagePayloadError) as refused:
        parse({"to": "x", "messageId": "m"})
    assert refused.value.field == "msisdn"


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings(vonage_signature_secret=SECRET), with_demo=False))) as c:
        yield c


def test_signed_inbound_as_json_and_receipt_as_get_reach_the_same_person(client):
    assert client.post("/v1/ingest/vonage/sms", json=fixture("inbound")).status_code == 200
    receipt = client.get("/v1/ingest/vonage/sms?" + urlencode(fixture("receipt_delivered")))
    assert receipt.status_code == 200, receipt.text
    (view,) = client.app.state.crossview.store._views.values()
    assert view.interactions == {"sms": 2}


def test_a_tampered_or_unsigned_webhook_is_refused(client):
    tampered = {**fixture("inbound"), "text": "STOP"}
    assert client.post("/v1/ingest/vonage/sms", json=tampered).status_code == 403
    unsigned = {k: v for k, v in fixture("inbound").items() if k != "sig"}
    assert client.post("/v1/ingest/vonage/sms", json=unsigned).status_code == 403
    assert client.app.state.crossview.store.position() == {}
