"""Every provider parser, fed its own fixtures with any value swapped for one of the wrong type or
shape (deep nesting, lone surrogates, naive times, huge numbers...), parses or refuses naming a
field: never another exception."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels import asterisk, connect, mailgun, segment, sendgrid, ses
from channels.webhook_fields import PayloadError
from tests.fuzzing import ODD_VALUES, deep, nodes, replaced

FIXTURES = Path(__file__).parents[1] / "fixtures"
MUTATIONS = int(os.environ.get("CROSSVIEW_FUZZ_SCALE", "1")) * 300  # per fixture; `make fuzz` raises it


def mutations(document: Any, seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)
    places = nodes(document)
    out = []
    for _ in range(count):
        mutated = document
        for _ in range(rng.randint(1, 3)):
            places = nodes(mutated)
            odd = rng.choice([*ODD_VALUES, deep(rng.randint(30, 400))])
            mutated = replaced(mutated, rng.choice(places), odd)
        out.append(mutated)
    return out


def encoded(document: Any) -> bytes:
    return json.dumps(document).encode("utf-8", "surrogatepass")


def sns_envelope(message: Any) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-11-20T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2ln",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
    }


def ses_parse(body: bytes) -> None:
    envelope = ses.parse_envelope(body)
    ses.parse_ses(envelope["Message"], envelope["MessageId"])


PARSERS = {
    "sendgrid": (sendgrid.parse_events, PayloadError),
    "mailgun": (mailgun.parse, PayloadError),
    "segment": (segment.parse, PayloadError),
    "asterisk": (asterisk.parse, PayloadError),
    "connect": (connect.parse, PayloadError),
    "ses": (ses_parse, PayloadError),
}


def documents(provider: str) -> list[Any]:
    docs = [json.loads(p.read_text()) for p in sorted((FIXTURES / provider).glob("*.json"))]
    if provider == "mailgun":  # the fixtures are the event-data part
        docs = [
            {"signature": {"timestamp": "1763632800", "token": "t" * 50, "signature": "0" * 64}, "event-data": d}
            for d in docs
        ]
    if provider == "ses":
        docs = [sns_envelope(d) for d in docs] + [sns_envelope(d)["Message"] and {"Message": d} for d in docs]
    return docs


@pytest.mark.parametrize("provider", sorted(PARSERS))
def test_a_parser_refuses_any_mutation_of_its_fixtures_naming_a_field(provider):
    parse, refusal = PARSERS[provider]
    for index, document in enumerate(documents(provider)):
        for mutated in mutations(document, seed=index, count=MUTATIONS):
            if provider == "ses" and isinstance(mutated, dict) and isinstance(mutated.get("Message"), dict):
                mutated = sns_envelope(mutations(mutated["Message"], seed=len(str(mutated)), count=1)[0])
            try:
                parse(encoded(mutated))
            except refusal as refused:
                assert refused.field is not None
            except Exception as error:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{provider}: {type(error).__name__}: {error} on {encoded(mutated)[:300]!r}")


@pytest.mark.parametrize("provider", sorted(PARSERS))
@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 100_000, b"\xff\xfe", b'"\\ud800"', b"1e999999", b"[" * 30 + b"]" * 30, b""],
)
def test_a_parser_refuses_bytes_that_are_no_payload_of_its_provider(provider, body):
    parse, refusal = PARSERS[provider]
    with pytest.raises(refusal):
        parse(body)


@pytest.mark.parametrize("provider", sorted(PARSERS))
@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300) | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_a_parser_answers_any_byte_sequence_by_parsing_or_naming_a_field(provider, body):
    parse, refusal = PARSERS[provider]
    try:
        parse(body)
    except refusal as refused:
        assert refused.field is not None
