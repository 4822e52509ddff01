"""Every provider module has the one webhook shape (verify, parse, map), and every webhook route
runs the one pipeline: a new provider cannot be added in another shape."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from fastapi.routing import APIRoute

from channels.provider import Reached, Webhook, WebhookRequest
from channels.webhook_fields import SignatureError
from services.bootstrap import embedded
from services.http.app import create_app
from services.http.routes.webhooks import call_centre, email, phone, web
from services.settings import Settings
from tests.unit.test_import_contracts import NOT_PARSERS

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# Not a provider's webhooks: what they share, CloudEvents over HTTP (a standard, read at /v1/events),
# and inbound email, which opens service requests rather than recording interactions.
NOT_PROVIDERS = NOT_PARSERS | {"webhook_fields", "provider", "cloudevents_http", "inbound_email"}
PROVIDERS = sorted(p.stem for p in (ROOT / "channels").glob("*.py") if p.stem not in NOT_PROVIDERS | {"__init__"})
JSON = {"content-type": "application/json"}


def fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def sns(message: bytes) -> bytes:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
            "Message": message.decode(),
            "Timestamp": "2026-11-20T10:00:03.000Z",
            "Signature": "c2ln",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
        }
    ).encode()


def mailgun(event: bytes) -> bytes:
    signature = {"timestamp": "1763632800", "token": "t0k3n", "signature": "0" * 64}
    return json.dumps({"signature": signature, "event-data": json.loads(event)}).encode()


# One request each webhook's provider sends, as its fixtures hold it: (webhook class, headers, body).
SAMPLES = {
    "SmsWebhook@twilio": ({}, fixture("twilio/inbound_sms.form")),
    "VoiceWebhook@twilio": ({}, fixture("twilio/call_completed.form")),
    "SmsWebhook@vonage": (JSON, fixture("vonage/inbound.json")),
    "EventWebhook@sendgrid": (JSON, fixture("sendgrid/batch.json")),
    "EventWebhook@mailgun": (JSON, mailgun(fixture("mailgun/event_delivered.json"))),
    "EventWebhook@ses": ({}, sns(fixture("ses/delivery.json"))),
    "MessageWebhook@segment": (JSON, fixture("segment/track.json")),
    "TrackingWebhook@segment": (JSON, fixture("segment/batch.json")),
    "EventWebhook@asterisk": (JSON, fixture("asterisk/call.json")),
    "ContactWebhook@connect": (JSON, fixture("connect/disconnected.json")),
    "InboundParseWebhook@sendgrid": (
        {"content-type": "multipart/form-data; boundary=xYzZY"},
        fixture("inbound/sendgrid_parse.multipart"),
    ),
    "RouteWebhook@mailgun": (
        {"content-type": "application/x-www-form-urlencoded"},
        urlencode(json.loads(fixture("inbound/mailgun_route.json"))).encode(),
    ),
}


def webhooks() -> list[tuple[str, Webhook]]:
    return [
        (f"{type(webhook).__name__}@{name}", webhook)
        for name in PROVIDERS
        for webhook in importlib.import_module(f"channels.{name}").WEBHOOKS
    ]


def test_every_provider_module_lists_its_webhooks():
    assert PROVIDERS == ["asterisk", "connect", "mailgun", "segment", "sendgrid", "ses", "twilio", "vonage"]
    for name in PROVIDERS:
        assert importlib.import_module(f"channels.{name}").WEBHOOKS, f"channels.{name} has no WEBHOOKS"
    assert sorted(label for label, _ in webhooks()) == sorted(SAMPLES)


@pytest.mark.parametrize(("label", "webhook"), webhooks(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_webhook_has_the_one_shape(label, webhook):
    assert isinstance(webhook, Webhook)
    assert webhook.provider == label.split("@")[1]
    assert webhook.refusal.startswith("Not ") and webhook.located_in in ("form", "body", "")
    for step, parameters in (("verify", ["request", "secret"]), ("parse", ["request"]), ("map", ["report"])):
        assert list(inspect.signature(getattr(webhook, step)).parameters) == parameters, step


@pytest.mark.parametrize(("label", "webhook"), webhooks(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_webhook_parses_its_providers_request_and_maps_it_to_an_interaction(label, webhook):
    headers, body = SAMPLES[label]
    request = WebhookRequest("POST", "https://crm.example.org/v1/ingest/x", headers, (), body)
    reports = webhook.parse(request)
    reached = [webhook.map(report) for report in reports]
    assert reached and all(isinstance(item, Reached) for item in reached)
    assert {item.data.provider for item in reached} == {webhook.provider}
    with pytest.raises(SignatureError):  # what nobody signed with this secret is refused
        webhook.verify(request, "arn:aws:sns:eu-west-1:1:other" if webhook.provider == "ses" else "not-the-secret")


def test_every_webhook_route_runs_the_one_pipeline_and_every_webhook_has_a_route():
    families = [route for module in (phone, call_centre, email, web) for route in module.router.routes]
    assert all(isinstance(route, APIRoute) for route in families)
    documented = create_app(lambda: embedded(Settings(), with_demo=False)).openapi()["paths"]
    ingest = {
        (path, method.upper())
        for path, methods in documented.items()
        if path.startswith("/v1/ingest/")
        for method in methods
    }
    assert {(route.path, method) for route in families for method in route.methods} == ingest
    served = set()
    for route in families:
        assert route.endpoint.__qualname__ == "route.<locals>.endpoint", route.path
        edge = inspect.getclosurevars(route.endpoint).nonlocals["edge"]
        webhook = edge.webhook(Settings(), SimpleNamespace())
        served.add(f"{type(webhook).__name__}@{webhook.provider}")
    assert served == set(SAMPLES)
