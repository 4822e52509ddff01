"""Every operation of the OpenAPI document, fed generated requests (plausible ones with odd values
swapped in, and garbage): never a server error, and nothing stored outside the event contract.

CROSSVIEW_FUZZ_SCALE multiplies the counts (`make fuzz`); a failure prints the seed and the request."""

from __future__ import annotations

import os

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.fuzzing import SECRETS, fuzz, operations, request_headers
from tests.tokens import EVERY_ROLE_TOKEN

SCALE = int(os.environ.get("CROSSVIEW_FUZZ_SCALE", "1"))
SEED = int(os.environ.get("CROSSVIEW_FUZZ_SEED", "20261130"))


def test_every_operation_is_in_the_fuzz():
    app = create_app(lambda: embedded(Settings(), with_demo=False))
    document = app.openapi()
    fuzzed = {(o.method, o.template) for o in operations(document)}
    assert ("PUT", "/v1/titles/{code}") in fuzzed and ("POST", "/v1/ingest/ses") in fuzzed
    # A live stream answers until its client leaves: its refusals and its stream are tests/unit/test_stream.py's.
    streams = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
        if "text/event-stream" in spec["responses"].get("200", {}).get("content", {})
    }
    assert streams == {("GET", "/v1/persons/{person_id}/stream")}
    assert len(fuzzed) + len(streams) == sum(len(methods) for methods in document["paths"].values())


def embedded_app(settings: Settings):
    return create_app(lambda: embedded(settings, with_demo=False))


def test_ten_thousand_requests_without_signatures_reach_every_parser_and_none_is_a_server_error():
    statuses = fuzz(
        embedded_app(Settings(insecure_skip_signatures=True, max_wait_ms=0)), 10_000 * SCALE, SEED, EVERY_ROLE_TOKEN
    )
    assert sum(statuses.values()) == 10_000 * SCALE
    assert statuses[200] + statuses[201] + statuses[202] > 500  # plausible requests get through too


def test_two_thousand_requests_against_configured_signatures_are_never_a_server_error():
    statuses = fuzz(embedded_app(Settings(**SECRETS, max_wait_ms=0)), 2_000 * SCALE, SEED + 1, EVERY_ROLE_TOKEN)
    assert statuses[403] > 0


def test_the_one_header_helper_gives_a_token_to_every_route_but_the_webhooks():
    assert request_headers("GET", "/v1/persons/{person_id}", {"x": "1"}, bearer="t") == {
        "x": "1",
        "authorization": "Bearer t",
    }
    assert request_headers("POST", "/v1/ingest/segment", {}, bearer="t") == {}
    assert request_headers("GET", "/v1/search", {"authorization": "Bearer wrong"}, bearer="t") == {
        "authorization": "Bearer wrong"
    }
