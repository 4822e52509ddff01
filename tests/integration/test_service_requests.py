"""Service requests on the real broker and database: opened by an inbound email from each
provider's own payload shape (SendGrid Inbound Parse multipart, Mailgun route form-encoded and
multipart) and by a web form (a Segment track), each delivery retried and counted once; and the
ready 360° documents answering exactly what the views answer, around the instants requests fall due."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from projections.memory_store import MemoryStore
from projections.person_document import today
from schemas.events import ServiceRequestOpened, ServiceRequestStateChanged
from services.bootstrap import production
from services.demo.data import event
from services.http.app import create_app
from tests.integration.test_person_documents import EVENTS, PEOPLE, Feed, answered, check_everyone, ready_answer
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

INBOUND = Path(__file__).parents[1] / "fixtures" / "inbound"
SEGMENT = Path(__file__).parents[1] / "fixtures" / "segment"
KEY = ec.generate_private_key(ec.SECP256R1())
SECRETS = {
    "sendgrid_parse_verification_key": base64.b64encode(
        KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode(),
    "mailgun_signing_key": "mailgun-key",
    "segment_write_key": "segment-key",
}


def sendgrid_parse(client, body: bytes | None = None):
    body = body or (INBOUND / "sendgrid_parse.multipart").read_bytes()
    timestamp = str(int(time.time()))
    signature = base64.b64encode(KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post(
        "/v1/ingest/sendgrid/inbound",
        content=body,
        headers={
            "content-type": "multipart/form-data; boundary=xYzZY",
            "x-twilio-email-event-webhook-signature": signature,
            "x-twilio-email-event-webhook-timestamp": timestamp,
        },
    )


def mailgun_fields() -> dict[str, str]:
    fields = json.loads((INBOUND / "mailgun_route.json").read_text())
    timestamp, token = str(int(time.time())), uuid.uuid4().hex  # Mailgun signs every post afresh
    signature = hmac.new(SECRETS["mailgun_signing_key"].encode(), (timestamp + token).encode(), hashlib.sha256)
    return {**fields, "timestamp": timestamp, "token": token, "signature": signature.hexdigest()}


def mailgun_route(client, multipart: bool):
    fields = mailgun_fields()
    if multipart:  # what Mailgun sends when the message has attachments
        files = {"attachment-1": ("devis.pdf", b"%PDF-1.4 fake", "application/pdf")}
        return client.post("/v1/ingest/mailgun/inbound", data={**fields, "attachment-count": "1"}, files=files)
    return client.post(
        "/v1/ingest/mailgun/inbound",
        content=urlencode(fields).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def segment(client, path: Path):
    auth = "Basic " + base64.b64encode(f"{SECRETS['segment_write_key']}:".encode()).decode()
    return client.post(
        "/v1/ingest/segment",
        content=path.read_bytes(),
        headers={"authorization": auth, "content-type": "application/json"},
    )


def ok(answer):
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_emails_and_a_web_form_open_requests_once_each_whatever_the_retries(settings, store):
    configured = settings.model_copy(update=SECRETS)
    with (
        ProjectorThread(configured),
        TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien, treasurer = ids["fabien"], ids["fn"]["Croissance+"]
        scenario.command(
            "put",
            f"/v1/persons/{fabien}/attributes/email",
            {"value": "tresorier@croissance-plus.example", "function_id": treasurer},
        )
        scenario.command(
            "put",
            f"/v1/persons/{fabien}/attributes/email",
            {"value": "fabien@fabulous-garden.example", "function_id": ids["fn"]["Fabulous Garden"]},
        )
        ok(segment(client, SEGMENT / "identify.json"))  # the visitor is Fabien (user id and email together)
        for _delivery in range(2):  # every provider retries: the second delivery must open nothing
            ok(sendgrid_parse(client))
            ok(mailgun_route(client, multipart=False))
            ok(mailgun_route(client, multipart=True))  # the same message in Mailgun's other shape
            ok(segment(client, INBOUND / "segment_service_request.json"))
        wait_until(lambda: client.app.state.crossview.commands.relay.lag() == 0, 60, "the relay")
        wait_until(caught_up(store, configured), 60, "the projector")
        listed = scenario.read("get", f"/v1/persons/{fabien}/service-requests")
        view = scenario.read("get", f"/v1/persons/{fabien}")
        rows = scenario.read("get", f"/v1/persons/{fabien}/timeline", params={"limit": 500})["entries"]

    requests = {r["channel"]: r for r in listed["service_requests"]}
    assert len(listed["service_requests"]) == 3 and set(requests) == {"email", "web"}
    by_subject = {r["subject"]: r for r in listed["service_requests"]}
    complaint = by_subject["Facture de cotisation en double"]  # to reclamation+complaint@
    assert (complaint["kind"], complaint["channel"], complaint["function_id"]) == ("complaint", "email", treasurer)
    question = by_subject["Question sur le contrat d'entretien"]  # to question@
    assert (question["kind"], question["channel"]) == ("question", "email")
    web = by_subject["Change the delivery address"]
    assert (web["kind"], web["channel"], web["state"]) == ("request", "web", "open")
    assert (listed["open"], listed["breached"]) == (3, 0)
    assert [r["request_id"] for r in view["service_requests"]] == [r["request_id"] for r in listed["service_requests"]]
    assert [r["due_at"] for r in view["service_requests"]] == sorted(r["due_at"] for r in view["service_requests"])
    opened = [r for r in rows if r["event_type"] == ServiceRequestOpened.event_type]
    assert len(opened) == 3  # the timeline shows each once
    inbound = [r for r in rows if r["channel"] == "email" and r["data"]["direction"] == "inbound"]
    assert len(inbound) == 2  # the two emails themselves, each once
    assert view["interactions"]["email"] == 2


def test_an_unsigned_or_tampered_inbound_email_opens_nothing(settings, store):
    configured = settings.model_copy(update=SECRETS)
    with TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client:
        body = (INBOUND / "sendgrid_parse.multipart").read_bytes()
        unsigned = client.post(
            "/v1/ingest/sendgrid/inbound", content=body, headers={"content-type": "multipart/form-data; boundary=xYzZY"}
        )
        assert unsigned.status_code == 403 and "X-Twilio-Email-Event-Webhook-Signature" in unsigned.text
        fields = {**mailgun_fields(), "subject": "changed after signing"}
        fields["token"] = "another-token"
        tampered = client.post("/v1/ingest/mailgun/inbound", data=fields)
        assert tampered.status_code == 403 and "form.signature" in tampered.text
        no_sender = sendgrid_parse(client, body.replace(b"tresorier@croissance-plus.example", b"nobody"))
        assert no_sender.status_code == 422 and "form.from" in no_sender.text
        bad_form = segment_form_without_subject(client)
        assert bad_form.status_code == 422 and "properties.subject" in bad_form.text
        assert client.app.state.crossview.commands.app.recorder.max_notification_id() in (None, 0)  # nothing stored


def segment_form_without_subject(client):
    track = json.loads((INBOUND / "segment_service_request.json").read_text())
    track["properties"].pop("subject")
    track["messageId"] = "ajs-no-subject"
    auth = "Basic " + base64.b64encode(f"{SECRETS['segment_write_key']}:".encode()).decode()
    return client.post("/v1/ingest/segment", json=track, headers={"authorization": auth})


# --- the ready documents around the instants requests fall due -----------------------------------


def _opened(person: str, request_id: str, due_at: datetime, n: int):
    data = ServiceRequestOpened(
        request_id=request_id,
        kind="complaint",
        channel="email",
        subject=f"Complaint {n}",
        opened_at=due_at - timedelta(hours=48),
        due_at=due_at,
        opened_by="sendgrid",
    )
    return event(person, data, due_at - timedelta(hours=48), f"req:{request_id}")


def test_documents_with_requests_equal_the_views_and_never_hold_across_a_due_instant(settings, store):
    memory = MemoryStore()
    feed = Feed(settings, store, memory)
    feed.send(EVENTS)
    now = datetime.now(UTC)
    in_three_days, overdue = now + timedelta(days=3), now - timedelta(days=2)
    later_today = now + timedelta(minutes=5)
    falls_due_today = later_today.date() == today()
    requests = [
        _opened(PEOPLE[0], "r-later", in_three_days, 0),
        _opened(PEOPLE[1], "r-overdue", overdue, 1),
        _opened(PEOPLE[2], "r-resolved", overdue, 2),
        event(
            PEOPLE[2],
            ServiceRequestStateChanged(
                request_id="r-resolved",
                state="resolved",
                previous_state="open",
                at=overdue - timedelta(hours=1),
                by="a",
            ),
            overdue,
            "req:r-resolved:resolved",
        ),
        _opened(PEOPLE[3], "r-today", later_today if falls_due_today else in_three_days, 3),
    ]
    feed.send(requests)
    feed.refresh()
    check_everyone(store, memory)  # every document that holds equals the view made without it
    day = today()
    assert ready_answer(store, PEOPLE[0], day)["service_requests"][0]["breached"] is False
    assert ready_answer(store, PEOPLE[1], day)["service_requests"][0]["breached"] is True
    assert ready_answer(store, PEOPLE[2], day)["service_requests"][0]["state"] == "resolved"
    assert store.person_document(PEOPLE[0], in_three_days.date()) is None  # its flag turns that day
    if falls_due_today:  # its flag turns within the day: no document holds, the views answer
        assert ready_answer(store, PEOPLE[3], day) is None
        assert answered(store, PEOPLE[3], day)["service_requests"][0]["breached"] is False
    held = sum(1 for p in PEOPLE if ready_answer(store, p, day) is not None)
    assert held >= len(PEOPLE) - 1
