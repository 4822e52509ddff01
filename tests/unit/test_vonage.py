"""Vonage SMS API webhooks: the SDK's signature vector, inbound messages and receipts, GET or POST."""

import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from channels.vonage import parse, signature, signature_is_valid
from channels.webhook_fields import PayloadError
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

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


@pytest.mark.parametrize(
    ("method", "expected"),
    [  # the Vonage Python SDK's vectors (its signature secret "secret")
        ("md5", "c15c21ced558c93a226c305f58f902f2"),
        ("sha1", "3e19a4e6880fdc2c1426bfd0587c98b9532f0210"),
        ("sha256", "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24"),
        (
            "sha512",
            "812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c"
            "63ed26ec9702168781b6edcf1633db8ff95af9341701004eec3fcf9550572ee8",
        ),
    ],
)
def test_the_hmac_methods_match_vonages_published_vectors(method, expected):
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert signature(params, "secret", method) == expected
    assert signature_is_valid({**params, "sig": expected.upper()}, "secret", method)
    assert not signature_is_valid({**params, "sig": expected}, "secret", "md5hash")


def test_an_account_signing_with_sha256_is_verified_with_sha256():
    settings = Settings(vonage_signature_secret=SECRET, vonage_signature_method="sha256")
    params = {**json.loads((FIXTURES / "inbound.json").read_text()), "timestamp": str(int(time.time()))}
    with TestClient(create_app(lambda: embedded(settings, with_demo=False)), headers=EVERY_ROLE) as client:
        signed = {**params, "sig": signature(params, SECRET, "sha256")}
        assert client.post("/v1/ingest/vonage/sms", json=signed).status_code == 200
        md5hash_signed = {**params, "sig": signature(params, SECRET)}
        assert client.post("/v1/ingest/vonage/sms", json=md5hash_signed).status_code == 403


def test_msisdn_is_the_customer_both_ways():
    inbound = parse(fixture("inbound"))
    assert (inbound.direction, inbound.status, inbound.from_number) == ("inbound", "received", "+33612345678")
    receipt = parse(fixture("receipt_delivered"))
    assert (receipt.direction, receipt.status, receipt.to_number) == ("outbound", "delivered", "+33612345678")
    with pytest.raises(PayloadError) as refused:
        parse({"to": "x", "messageId": "m"})
    assert refused.value.field == "msisdn"


@pytest.fixture
def client():
    with TestClient(
        create_app(lambda: embedded(Settings(vonage_signature_secret=SECRET), with_demo=False)), headers=EVERY_ROLE
    ) as c:
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
