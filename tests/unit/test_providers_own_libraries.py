"""Each provider's webhooks checked with the provider's own library: Twilio's RequestValidator and
Vonage's signature helper sign requests the way the providers do; SendGrid's EventWebhook and
Mailgun's verify_webhook tell which signatures are the providers' own. Crossview accepts what the
library signs or accepts, and refuses what it refuses (the same request tampered with)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from mailgun.security import SecurityGuard
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator
from vonage_http_client.auth import Auth

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings

FIXTURES = Path(__file__).parents[1] / "fixtures"
PUBLIC_URL = "https://crm.example.org"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
VONAGE_SECRET = "vonage-signature-secret"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def client_with(**secrets) -> TestClient:
    return TestClient(create_app(lambda: embedded(Settings(**secrets), with_demo=False)))


def interactions(client: TestClient) -> int:
    return sum(sum(view.interactions.values()) for view in client.app.state.crossview.store._views.values())


def test_twilio_request_validator_signatures_are_accepted_and_tampered_requests_refused():
    validator = RequestValidator(TWILIO_TOKEN)
    form = parse_qsl((FIXTURES / "twilio" / "inbound_sms.form").read_text().strip(), keep_blank_values=True)
    url = f"{PUBLIC_URL}/v1/ingest/twilio/sms"
    signature = validator.compute_signature(url, dict(form))
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}
    tampered = [(k, "START" if k == "Body" else v) for k, v in form]
    assert validator.validate(url, dict(form), signature) and not validator.validate(url, dict(tampered), signature)
    with client_with(twilio_auth_token=TWILIO_TOKEN, public_base_url=PUBLIC_URL) as client:
        refused = client.post("/v1/ingest/twilio/sms", content=urlencode(tampered), headers=headers)
        assert refused.status_code == 403 and interactions(client) == 0
        accepted = client.post("/v1/ingest/twilio/sms", content=urlencode(form), headers=headers)
        assert accepted.status_code == 200, accepted.text
        assert interactions(client) == 1


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_vonage_signature_helper_signatures_are_accepted_and_tampered_requests_refused(method):
    auth = Auth(api_key="abcd1234", signature_secret=VONAGE_SECRET, signature_method=method)
    params = json.loads((FIXTURES / "vonage" / "inbound.json").read_text())
    params.pop("sig", None)
    params["timestamp"] = str(int(time.time()))
    signed = {**params, "sig": auth.sign_params(dict(params))}
    assert auth.check_signature(dict(signed))
    tampered = {**signed, "text": "STOP"}
    assert not auth.check_signature(dict(tampered))
    with client_with(vonage_signature_secret=VONAGE_SECRET, vonage_signature_method=method) as client:
        assert client.post("/v1/ingest/vonage/sms", json=tampered).status_code == 403
        assert client.get("/v1/ingest/vonage/sms?" + urlencode(tampered)).status_code == 403
        assert interactions(client) == 0
        accepted = client.post("/v1/ingest/vonage/sms", json=signed)
        assert accepted.status_code == 200, accepted.text
        assert client.get("/v1/ingest/vonage/sms?" + urlencode(signed)).status_code == 200  # Vonage's retry, by GET
        assert interactions(client) == 1


def sendgrid_headers(body: bytes, timestamp: str) -> dict[str, str]:
    signature = base64.b64encode(SENDGRID_KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return {
        "content-type": "application/json",
        "x-twilio-email-event-webhook-signature": signature,
        "x-twilio-email-event-webhook-timestamp": timestamp,
    }


def test_sendgrid_event_webhook_helper_and_crossview_agree_on_signed_and_tampered_batches():
    helper = EventWebhook(SENDGRID_PUBLIC)
    body = (FIXTURES / "sendgrid" / "batch.json").read_bytes()
    timestamp = str(int(time.time()))
    headers = sendgrid_headers(body, timestamp)
    signature = headers["x-twilio-email-event-webhook-signature"]
    tampered = body.replace(b"fabien@", b"mallory@")
    assert helper.verify_signature(body.decode(), signature, timestamp)
    assert not helper.verify_signature(tampered.decode(), signature, timestamp)
    with client_with(sendgrid_verification_key=SENDGRID_PUBLIC) as client:
        assert client.post("/v1/ingest/sendgrid", content=tampered, headers=headers).status_code == 403
        assert interactions(client) == 0
        accepted = client.post("/v1/ingest/sendgrid", content=body, headers=headers)
        assert accepted.status_code == 200, accepted.text
        assert interactions(client) > 0


def mailgun_body(token: str, signature: str, timestamp: str) -> bytes:
    event = json.loads((FIXTURES / "mailgun" / "event_delivered.json").read_text())
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event}
    ).encode()


def test_mailgun_verify_webhook_and_crossview_agree_on_signed_and_tampered_webhooks():
    timestamp, token = str(int(time.time())), "a" * 50
    signature = hmac.new(MAILGUN_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    assert SecurityGuard.verify_webhook(MAILGUN_KEY, token, timestamp, signature)
    assert not SecurityGuard.verify_webhook(MAILGUN_KEY, "b" * 50, timestamp, signature)
    json_headers = {"content-type": "application/json"}
    with client_with(mailgun_signing_key=MAILGUN_KEY) as client:
        tampered = mailgun_body("b" * 50, signature, timestamp)
        assert client.post("/v1/ingest/mailgun", content=tampered, headers=json_headers).status_code == 403
        assert interactions(client) == 0
        accepted = client.post(
            "/v1/ingest/mailgun", content=mailgun_body(token, signature, timestamp), headers=json_headers
        )
        assert accepted.status_code == 200, accepted.text
        assert interactions(client) == 1
