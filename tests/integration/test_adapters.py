"""Every provider fixture, posted as the provider would, through the real broker and database,
ending in the 360° view; each delivered twice, counted once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from channels import twilio, vonage
from services.bootstrap import production
from services.http.app import create_app
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures"
KEY = ec.generate_private_key(ec.SECP256R1())
SECRETS = {
    "twilio_auth_token": "twilio-token",
    "public_base_url": "http://testserver",  # what Twilio signs
    "sendgrid_verification_key": base64.b64encode(
        KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode(),
    "mailgun_signing_key": "mailgun-key",
    "segment_write_key": "segment-key",
    "vonage_signature_secret": "vonage-secret",
    "asterisk_secret": "ari-secret",
    "connect_api_key": "eventbridge-key",
}


def twilio_post(client, path: str, name: str) -> None:
    body = (FIXTURES / "twilio" / f"{name}.form").read_bytes()
    signed = twilio.signature(
        f"http://testserver{path}", parse_qsl(body.decode(), keep_blank_values=True), SECRETS["twilio_auth_token"]
    )
    answer = client.post(
        path, content=body, headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signed}
    )
    assert answer.status_code == 200, answer.text


def sendgrid_post(client) -> None:
    body, timestamp = (FIXTURES / "sendgrid" / "batch.json").read_bytes(), str(int(time.time()))
    signature = base64.b64encode(KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    answer = client.post(
        "/v1/ingest/sendgrid",
        content=body,
        headers={
            "x-twilio-email-event-webhook-signature": signature,
            "x-twilio-email-event-webhook-timestamp": timestamp,
        },
    )
    assert answer.status_code == 200, answer.text


def mailgun_post(client, name: str) -> None:
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(
        SECRETS["mailgun_signing_key"].encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    data = json.loads((FIXTURES / "mailgun" / f"event_{name}.json").read_text())
    answer = client.post(
        "/v1/ingest/mailgun",
        json={"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": data},
    )
    assert answer.status_code == 200, answer.text


def segment_post(client, name: str) -> None:
    auth = "Basic " + base64.b64encode(f"{SECRETS['segment_write_key']}:".encode()).decode()
    answer = client.post(
        "/v1/ingest/segment",
        content=(FIXTURES / "segment" / f"{name}.json").read_bytes(),
        headers={"authorization": auth, "content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


def vonage_post(client, name: str) -> None:
    params = {**json.loads((FIXTURES / "vonage" / f"{name}.json").read_text()), "timestamp": str(int(time.time()))}
    answer = client.post(
        "/v1/ingest/vonage/sms", json={**params, "sig": vonage.signature(params, SECRETS["vonage_signature_secret"])}
    )
    assert answer.status_code == 200, answer.text


def asterisk_post(client) -> None:
    auth = "Basic " + base64.b64encode(f"forwarder:{SECRETS['asterisk_secret']}".encode()).decode()
    answer = client.post(
        "/v1/ingest/asterisk",
        content=(FIXTURES / "asterisk" / "call.json").read_bytes(),
        headers={"authorization": auth},
    )
    assert answer.status_code == 200, answer.text


def connect_post(client, name: str) -> None:
    answer = client.post(
        "/v1/ingest/connect",
        content=(FIXTURES / "connect" / f"{name}.json").read_bytes(),
        headers={"x-api-key": SECRETS["connect_api_key"]},
    )
    assert answer.status_code == 200, answer.text


def test_every_fixture_reaches_fabiens_360_view_once(settings, store):
    configured = settings.model_copy(update=SECRETS)
    with (
        ProjectorThread(configured),
        TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien, garden = ids["fabien"], ids["fn"]["Fabulous Garden"]
        scenario.command("put", f"/v1/persons/{fabien}/attributes/mobile_phone", {"value": "+33612345678"})
        scenario.command(
            "put",
            f"/v1/persons/{fabien}/attributes/email",
            {"value": "fabien@fabulous-garden.example", "function_id": garden},
        )
        for _delivery in range(2):  # every provider retries: the second delivery must change nothing
            twilio_post(client, "/v1/ingest/twilio/sms", "inbound_sms")
            for name in ("status_sent", "status_delivered"):
                twilio_post(client, "/v1/ingest/twilio/sms", name)
            for name in ("call_ringing", "call_completed"):
                twilio_post(client, "/v1/ingest/twilio/voice", name)
            sendgrid_post(client)
            for name in ("delivered", "opened", "clicked"):
                mailgun_post(client, name)
            for name in ("batch", "identify", "alias", "group"):
                segment_post(client, name)
            for name in ("inbound", "receipt_delivered"):
                vonage_post(client, name)
            asterisk_post(client)
            for name in ("connected_to_agent", "disconnected", "contact_record"):  # the caller named last
                connect_post(client, name)
        wait_until(caught_up(store, configured), 60, "the projector")
        view = scenario.read("get", f"/v1/persons/{fabien}", params={"as_of": "2026-11-23"})
        rows = scenario.read("get", f"/v1/persons/{fabien}/timeline", params={"limit": 500})["entries"]
    assert view["interactions"] == {"sms": 4, "call": 4, "email": 2, "web": 5}  # messages and calls, not reports
    assert sum(1 for row in rows if row["channel"]) == sum(view["interactions"].values())
    by_function = {f["organisation"]["name"]: f["interactions"] for f in view["functions"]}
    assert by_function["Fabulous Garden"] == {"email": 2}
    assert by_function["Initech"] == {"web": 1}  # Segment's group made Fabien a contact there
    reachability = {(r["channel"], r["address"]): r["reachable"] for r in view["reachability"]}
    assert reachability == {("sms", "+33612345678"): False, ("email", "fabien@fabulous-garden.example"): True}
