"""Generated requests for every operation of the app's OpenAPI document (new routes are covered
without touching this file), and the mutations they are made of.

Every request goes out through ``send``, whose headers come from ``request_headers`` alone: the
one place to add what every request of a route needs (a bearer token, once routes require one).
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from fastapi.testclient import TestClient

from channels.segment import TRACKING_ENDPOINTS
from channels.ses import CertificateCache
from schemas.events import EVENT_TYPES
from services.application.wire import check_contract
from tests.scenario import Scenario

FIXTURES = Path(__file__).parent / "fixtures"
WEBHOOKS_PREFIX = "/v1/ingest/"

# Values of the wrong type or shape for any field: what a careless or hostile client sends.
ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1e300,
    -1e300,
    "",
    " ",
    "\ud800",
    "é\u0000\U0001f600",
    "x" * 5000,
    "2026-11-20T10:00:00",  # no time zone
    "2026-11-20T10:00:00+00:00",
    [],
    {},
    [[]],
    [None],
    [{}],
    {"": None},
    {"a": [1, {"b": "c"}]},
    ["fabien@fabulous-garden.example", 3],
    "[" * 40 + "]" * 40,
]
ODD_TEXT = [
    "",
    " ",
    "é",
    "\u0000",
    "..",
    "%",
    "a/b",
    "T" * 100,
    "T" * 101,
    "x" * 201,
    "y" * 2000,
    "💥" * 60,
    "null",
    "-1",
    "1e309",
    "2026-02-30",
    "2026-11-20T10:00:00",
    "crossview.domain:0:0",
    "x:1:2",
    str(uuid.UUID(int=0)),
    "\ud800",
    "<script>",
    "' OR 1=1 --",
]


def request_headers(
    method: str, path: str, extra: Mapping[str, str | bytes] | None = None, bearer: str | None = None
) -> dict[str, str | bytes]:
    """The headers of one generated request to ``path`` (a route template): the request's own
    (content type, a provider's signature headers, garbage), plus what every request of that route
    needs. Routes under /v1/ingest/ are providers' webhooks, authenticated by their own signatures;
    every other route gets ``bearer`` as its token when one is given (and the request does not
    carry an Authorization header of its own, to see what a wrong one gets)."""
    headers = dict(extra or {})
    if bearer is not None and not path.startswith(WEBHOOKS_PREFIX):
        headers.setdefault("authorization", f"Bearer {bearer}")
    return headers


def send(client, request: FuzzRequest, bearer: str | None = None):
    """Every generated request goes out here, its headers from request_headers alone."""
    headers = request_headers(request.method, request.template, request.headers, bearer)
    url = f"{request.url}?{form(request.query)}" if request.query else request.url
    return client.request(request.method, url, content=request.body, headers=headers)


def raw(text: str) -> bytes:
    """UTF-8, lone surrogates included: the bytes a client may send whatever Python thinks of them."""
    return text.encode("utf-8", "surrogatepass")


def form(pairs: list[tuple[str, str]]) -> str:
    return urlencode([(raw(k), raw(v)) for k, v in pairs])


# --- mutations of JSON documents -----------------------------------------------------------


def nodes(document: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if len(path) > 12:  # not into a deeply nested value swapped in before
        return found
    if isinstance(document, dict):
        for key, value in document.items():
            found += nodes(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += nodes(value, (*path, index))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[path[0]] = replaced(document[path[0]], path[1:], value)
    return copy


def removed(document: Any, path: tuple) -> Any:
    if len(path) == 1 and isinstance(document, dict):
        return {k: v for k, v in document.items() if k != path[0]}
    if not path or not isinstance(document, dict | list):
        return document
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[path[0]] = removed(document[path[0]], path[1:])
    return copy


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for i in range(levels):
        value = [value] if i % 2 else {"a": value}
    return value


def mutated(document: Any, rng: random.Random) -> Any:
    """The document with one to three values swapped for odd ones, or fields dropped."""
    for _ in range(rng.randint(1, 3)):
        place = rng.choice(nodes(document))
        if place and rng.random() < 0.25:
            document = removed(document, place)
        else:
            odd = rng.choice([*ODD_VALUES, deep(rng.randint(20, 60))])
            document = replaced(document, place, odd)
    return document


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.2:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 4 and roll < 0.4:
        return {random_text(rng): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return rng.choice(ODD_VALUES[:14])


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(ODD_TEXT)
    return "".join(rng.choice(string.printable + "éß☃\u200b") for _ in range(rng.randint(0, 30)))


def encoded(document: Any) -> bytes:
    return json.dumps(document).encode()


# --- the operations and their requests -----------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # /v1/persons/{person_id}
    path_params: tuple[str, ...]
    query: tuple[tuple[str, dict], ...]  # (name, schema)
    body: dict | None  # the JSON body's schema, None when the route reads the raw body


@dataclass
class FuzzRequest:
    method: str
    template: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.url} query={self.query} headers={self.headers} body={(self.body or b'')[:300]!r}"


def operations(openapi: dict) -> list[Operation]:
    found = []
    for template, methods in openapi["paths"].items():
        for method, spec in methods.items():
            if "text/event-stream" in spec.get("responses", {}).get("200", {}).get("content", {}):
                continue  # a live stream answers until the client leaves: tests/unit/test_stream.py
            parameters = spec.get("parameters", [])
            body = spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            found.append(
                Operation(
                    method.upper(),
                    template,
                    tuple(p["name"] for p in parameters if p["in"] == "path"),
                    tuple((p["name"], p.get("schema", {})) for p in parameters if p["in"] == "query"),
                    body,
                )
            )
    return found


class RequestFactory:
    """Requests for every operation: mostly plausible (known ids, values from the schemas, the
    providers' own fixtures) with odd values swapped in, and some plain garbage."""

    def __init__(self, openapi: dict, known: Mapping[str, list[str]], seed: int) -> None:
        self.operations = operations(openapi)
        self.components = openapi.get("components", {}).get("schemas", {})
        self.known = known  # person_id, organisation_id, function_id, code, attribute, campaign -> values
        self.rng = random.Random(seed)
        self.fixtures = _provider_fixtures()

    def requests(self, count: int) -> Iterator[FuzzRequest]:
        for index in range(count):
            operation = self.operations[index % len(self.operations)]  # every operation, in turn
            yield self.request(operation)

    def request(self, operation: Operation) -> FuzzRequest:
        rng = self.rng
        url = operation.template
        for name in operation.path_params:
            url = url.replace("{" + name + "}", quote(raw(self.path_value(name)), safe=""))
        query = [(name, self.query_value(name, schema)) for name, schema in operation.query if rng.random() < 0.5]
        request = FuzzRequest(operation.method, operation.template, url, query)
        if operation.template.startswith(WEBHOOKS_PREFIX):
            self.webhook(request)
        elif operation.method in ("POST", "PUT", "PATCH", "DELETE"):
            self.json_body(request, operation)
        if rng.random() < 0.1:  # and any headers at all
            request.headers[rng.choice(["content-type", "authorization", "x-api-key", "content-encoding"])] = (
                rng.choice([b"\xff\xfe", "é".encode("latin-1"), b"application/json; charset=latin-1", b"gzip"])
            )
        return request

    def path_value(self, name: str) -> str:
        rng = self.rng
        known = self.known.get(name) or self.known.get({"absorbed_id": "person_id", "name": "attribute"}.get(name, ""))
        if known and rng.random() < 0.7:
            return rng.choice(known)
        return rng.choice([str(uuid.uuid4()), random_text(rng)]) or "x"

    def query_value(self, name: str, schema: dict) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            return random_text(rng)
        plausible = {
            "min_position": ["crossview.domain:0:0", "crossview.interactions:1:5", "x:0:99999999999999999999"],
            "wait_ms": ["0", "1", "5"],
            "as_of": ["2026-11-23", "1900-01-01", "9999-12-31"],
            "limit": ["1", "20", "200", "201", "0"],
            "include_past": ["true", "false"],
            "channel": ["sms", "email", "web", "call"],
            "q": ["Bellemare", "fabien", "+336", "Fabulous Garden"],
            "function_id": self.known.get("function_id", []),
            "before": [_cursor("2026-11-20T10:00:00+00:00"), _cursor("2026-11-20T10:00:00"), _cursor(3), "e30="],
        }.get(name)
        return rng.choice(plausible) if plausible else random_text(rng)

    def json_body(self, request: FuzzRequest, operation: Operation) -> None:
        rng = self.rng
        request.headers["content-type"] = "application/json"
        roll = rng.random()
        if operation.template == "/v1/events" and roll < 0.5:
            events = [self.cloud_event() for _ in range(rng.choice([1, 1, 2, 5]))]
            document: Any = events[0] if len(events) == 1 and rng.random() < 0.5 else events
            request.body = encoded(mutated(document, rng) if rng.random() < 0.5 else document)
        elif operation.body is not None and roll < 0.8:
            document = self.from_schema(operation.body)
            request.body = encoded(mutated(document, rng) if rng.random() < 0.5 else document)
        elif roll < 0.9:
            request.body = encoded(random_json(rng))
        else:
            request.body = self.garbage()

    def cloud_event(self) -> dict:
        rng = self.rng
        event_type = rng.choice(sorted(EVENT_TYPES))
        return {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "fuzz",
            "type": event_type,
            "subject": rng.choice(self.known.get("person_id") or [str(uuid.uuid4())]),
            "time": rng.choice(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00", "0001-01-01T00:00:00+14:00"]),
            "data": self.from_schema(EVENT_TYPES[event_type].model_json_schema()),
        }

    def webhook(self, request: FuzzRequest) -> None:
        rng = self.rng
        provider = request.template.removeprefix(WEBHOOKS_PREFIX)
        samples = self.fixtures.get(provider, [])
        roll = rng.random()
        if samples and roll < 0.8:
            kind, document = rng.choice(samples)
            if kind == "form":
                pairs = [(k, rng.choice([v, random_text(rng)]) if rng.random() < 0.3 else v) for k, v in document]
                if rng.random() < 0.3 and pairs:
                    pairs.pop(rng.randrange(len(pairs)))
                request.body = form(pairs).encode()
                request.headers["content-type"] = "application/x-www-form-urlencoded"
                if request.method == "GET":
                    request.query, request.body = pairs, None
            else:
                document = mutated(document, rng) if rng.random() < 0.7 else document
                if provider == "ses":
                    document = _sns_envelope(document, rng)
                request.body = encoded(document)
                request.headers["content-type"] = rng.choice(["application/json", "text/plain"])
        elif roll < 0.9:
            request.body = encoded(random_json(rng))
        else:
            request.body = self.garbage()
        for name in ("x-twilio-signature", "x-twilio-email-event-webhook-signature", "authorization", "x-api-key"):
            if rng.random() < 0.1:
                request.headers[name] = rng.choice([b"\xe9", "sig☃".encode(), b"Basic \xff", b"Basic Og==", b""])
        if rng.random() < 0.1:
            request.headers["x-twilio-email-event-webhook-timestamp"] = rng.choice(["1", "x", "9" * 30])

    def garbage(self) -> bytes:
        rng = self.rng
        return rng.choice(
            [
                b"",
                bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))),
                b"[" * 5000,
                b'{"a":' * 100 + b"1" + b"}" * 100,
                b"\xef\xbb\xbf{}",
                b'"\\ud800"',
                b"NaN",
                b"a=1&a=2&%ff=%fe",
            ]
        )

    def from_schema(self, schema: dict, depth: int = 0) -> Any:
        """A value the schema describes (resolving $ref, unions, enums, lengths), or an odd one now and then."""
        rng = self.rng
        if "$ref" in schema:
            schema = self.components.get(schema["$ref"].rsplit("/", 1)[-1]) or schema.get("$defs", {})
        for union in ("anyOf", "oneOf"):
            if union in schema:
                return self.from_schema(rng.choice(schema[union]), depth)
        if "$defs" in schema:  # a model's own schema: keep its definitions at hand
            self.components = {**self.components, **schema["$defs"]}
        if rng.random() < 0.05 or depth > 5:
            return rng.choice(ODD_VALUES[:14])
        if "enum" in schema:
            return rng.choice(schema["enum"])
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            required = set(schema.get("required", []))
            return {
                name: self.from_schema(sub, depth + 1)
                for name, sub in schema.get("properties", {}).items()
                if name in required or rng.random() < 0.5
            }
        if kind == "array":
            return [self.from_schema(schema.get("items", {}), depth + 1) for _ in range(rng.randint(0, 3))]
        if kind == "integer":
            return rng.choice([0, 1, 42, -1, 10**12])
        if kind == "number":
            return rng.choice([0.5, 1, -1.0])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        if kind == "string":
            return self.text(schema)
        return random_json(rng)

    def text(self, schema: dict) -> str:
        rng = self.rng
        form = schema.get("format")
        if form == "uuid":
            return rng.choice(
                (self.known.get("person_id") or []) + (self.known.get("organisation_id") or []) + [str(uuid.uuid4())]
            )
        if form == "date":
            return rng.choice(["2026-11-23", "2015-03-01", "2999-01-01", "2026-02-30"])
        if form == "date-time":
            return rng.choice(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00"])
        longest = schema.get("maxLength", 60)
        if rng.random() < 0.3:
            return rng.choice(["x" * longest, "x" * (longest + 1), "é" * longest])
        choices = [
            *self.known.get("code", []),
            *self.known.get("function_id", []),
            "fabien@fabulous-garden.example",
            "+33612345678",
            "Fabien",
            "Bellemare",
        ]
        return rng.choice(choices) if rng.random() < 0.6 else random_text(rng)


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


def fuzz(app, count: int, seed: int, bearer: str | None = None) -> Counter:
    """Send ``count`` generated requests to ``app`` (after the seed's scenario); fail on the first
    server error with the request that made it, and on any stored event outside the contract.
    ``bearer``: the token routes other than webhooks get (see request_headers)."""
    statuses: Counter = Counter()
    with TestClient(app) as client:  # an exception a route let out is raised here, with its traceback
        app.state.sns_certificates = CertificateCache(unreachable)  # nothing leaves the machine
        app.state.sns_confirm = lambda url: None
        seeding = TestClient(app, headers=request_headers("GET", "/v1/seed", bearer=bearer))  # same app, started
        factory = RequestFactory(app.openapi(), known_ids(seeding), seed)
        for request in factory.requests(count):
            try:
                answer = send(client, request, bearer)
            except Exception as error:  # noqa: BLE001 - what a server error would have been
                raise AssertionError(f"server error: seed {seed}: {request}") from error
            statuses[answer.status_code] += 1
            if answer.status_code >= 500:
                pytest.fail(f"{answer.status_code} {answer.text[:500]}\nseed {seed}: {request}")
        stored = client.app.state.crossview.commands.app
        notifications = stored.recorder.select_notifications(start=1, limit=10**7)
        check_contract(stored.mapper.to_domain_event(n) for n in notifications)  # raises for any outside it
    return statuses


def _cursor(at: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, "event-1"]).encode()).decode()


def _provider_fixtures() -> dict[str, list[tuple[str, Any]]]:
    def jsons(folder: str) -> list[tuple[str, Any]]:
        return [("json", json.loads(p.read_text())) for p in sorted((FIXTURES / folder).glob("*.json"))]

    def forms(prefix: str) -> list[tuple[str, Any]]:
        return [
            ("form", parse_qsl(p.read_text(), keep_blank_values=True))
            for p in sorted((FIXTURES / "twilio").glob(f"{prefix}*.form"))
        ]

    mailgun = [
        ("json", {"signature": {"timestamp": "1763632800", "token": "t" * 50, "signature": "0" * 64}, "event-data": d})
        for _, d in jsons("mailgun")
    ]
    vonage = jsons("vonage")
    return {
        "twilio/sms": forms("inbound") + forms("status"),
        "twilio/voice": forms("call"),
        "vonage/sms": vonage + [("form", [(k, str(v)) for k, v in d.items()]) for _, d in vonage],
        "sendgrid": jsons("sendgrid"),
        "mailgun": mailgun,
        "ses": jsons("ses"),
        "segment": jsons("segment"),
        **{f"segment/v1/{endpoint}": jsons("segment") for endpoint in TRACKING_ENDPOINTS},
        "asterisk": jsons("asterisk"),
        "connect": jsons("connect"),
    }


def _sns_envelope(message: Any, rng: random.Random) -> dict:
    envelope = {
        "Type": rng.choice(["Notification", "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]),
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses",
        "Message": json.dumps(message),
        "Timestamp": "2026-11-20T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2ln",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
        "SubscribeURL": rng.choice(["https://sns.eu-west-1.amazonaws.com/?Action=Confirm", "http://evil.example/"]),
    }
    return mutated(envelope, rng) if rng.random() < 0.3 else envelope
