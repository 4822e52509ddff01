"""Every operation of the OpenAPI document, fed generated requests (plausible ones with odd values
swapped in, and garbage): never a server error, and nothing stored outside the event contract.

CROSSVIEW_FUZZ_SCALE multiplies the counts (`make fuzz`); a failure prints the seed and the request."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from channels.ses import CertificateCache
from services.api import create_app
from services.bootstrap import embedded
from services.settings import Settings
from services.wire import check_contract
from tests.fuzzing import RequestFactory, operations, send
from tests.scenario import Scenario

SCALE = int(os.environ.get("CROSSVIEW_FUZZ_SCALE", "1"))
SEED = int(os.environ.get("CROSSVIEW_FUZZ_SEED", "20261130"))
SECRETS = {
    "twilio_auth_token": "twilio-token",
    "sendgrid_verification_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
    "mailgun_signing_key": "mailgun-key",
    "segment_write_key": "segment-key",
    "vonage_signature_secret": "vonage-secret",
    "asterisk_secret": "ari-secret",
    "connect_api_key": "eventbridge-key",
    "ses_topic_arns": "arn:aws:sns:eu-west-1:123456789012:ses",
    "public_base_url": "https://crm.example.org",
}


def unreachable(url: str) -> bytes:
    raise OSError("no network in tests")


def known_ids(client: TestClient) -> dict[str, list[str]]:
    ids = Scenario(client).build()
    fabien = client.get(f"/v1/persons/{ids['fabien']}", params={"as_of": "2026-11-23"}).json()
    return {
        "person_id": [v for k, v in ids.items() if isinstance(v, str)],
        "organisation_id": [f["organisation"]["organisation_id"] for f in fabien["functions"]],
        "function_id": [f["function_id"] for f in fabien["functions"]],
        "code": ["TREASURER", "BOARD_MEMBER", "web-contact"],
        "attribute": ["email", "mobile_phone", "postal_address", "favourite_colour"],
        "campaign": ["spring-promo"],
    }


def fuzz(settings: Settings, count: int, seed: int) -> Counter:
    statuses: Counter = Counter()
    app = create_app(lambda: embedded(settings, with_demo=False))
    with TestClient(app) as client:  # an exception a route let out is raised here, with its traceback
        app.state.sns_certificates = CertificateCache(unreachable)  # nothing leaves the machine
        app.state.sns_confirm = lambda url: None
        factory = RequestFactory(app.openapi(), known_ids(client), seed)
        for request in factory.requests(count):
            try:
                answer = send(client, request)
            except Exception as error:  # noqa: BLE001 - what a server error would have been
                raise AssertionError(f"server error: seed {seed}: {request}") from error
            statuses[answer.status_code] += 1
            if answer.status_code >= 500:
                pytest.fail(f"{answer.status_code} {answer.text[:500]}\nseed {seed}: {request}")
        stored = client.app.state.crossview.commands.app
        notifications = stored.recorder.select_notifications(start=1, limit=10**7)
        check_contract(stored.mapper.to_domain_event(n) for n in notifications)  # raises for any outside it
    return statuses


def test_every_operation_is_in_the_fuzz():
    app = create_app(lambda: embedded(Settings(), with_demo=False))
    fuzzed = {(o.method, o.template) for o in operations(app.openapi())}
    assert ("PUT", "/v1/titles/{code}") in fuzzed and ("POST", "/v1/ingest/ses") in fuzzed
    assert len(fuzzed) == sum(len(methods) for methods in app.openapi()["paths"].values())


def test_ten_thousand_requests_without_signatures_reach_every_parser_and_none_is_a_server_error():
    statuses = fuzz(Settings(insecure_skip_signatures=True, max_wait_ms=0), 10_000 * SCALE, SEED)
    assert sum(statuses.values()) == 10_000 * SCALE
    assert statuses[200] + statuses[201] + statuses[202] > 500  # plausible requests get through too


def test_two_thousand_requests_against_configured_signatures_are_never_a_server_error():
    statuses = fuzz(Settings(**SECRETS, max_wait_ms=0), 2_000 * SCALE, SEED + 1)
    assert statuses[403] > 0
