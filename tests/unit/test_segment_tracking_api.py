"""Segment's HTTP Tracking API under /v1/ingest/segment, as Segment's libraries call it: the
endpoint names the type, the write key rides in HTTP Basic or in the body, bodies may be gzip,
and errors carry the code and message the libraries read."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from fastapi.testclient import TestClient

from channels.segment import parse_tracking
from channels.webhook_fields import PayloadError
from services.bootstrap import embedded
from services.http.app import create_app
from services.http.limits import BodyTooLarge, UndecodableBody, inflated
from services.settings import Settings
from tests.tokens import EVERY_ROLE

KEY = "w-r-i-t-e-k-e-y"
BASE = "/v1/ingest/segment"
BASIC = {"authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
TRACK = {
    "userId": "fabien",
    "event": "Order Completed",
    "properties": {"total": 42},
    "timestamp": "2026-11-21T10:00:00Z",
}


@pytest.fixture
def client():
    settings = Settings(segment_write_key=KEY, max_webhook_bytes=200_000)
    with TestClient(create_app(lambda: embedded(settings, with_demo=False)), headers=EVERY_ROLE) as c:
        yield c


def people(client) -> list:
    return [v for v in client.app.state.crossview.store._views.values() if v.merged_into is None]


def test_the_endpoint_names_the_type_and_a_missing_message_id_is_derived_from_the_content():
    (message,) = parse_tracking(json.dumps(TRACK).encode(), "track")
    assert (message.type, message.name) == ("track", "Order Completed")
    (again,) = parse_tracking(json.dumps({**TRACK, "sentAt": "later", "writeKey": "k"}).encode(), "track")
    assert message.message_id == again.message_id  # a retry is the same message
    (other,) = parse_tracking(json.dumps({**TRACK, "event": "Order Refunded"}).encode(), "track")
    assert other.message_id != message.message_id
    with pytest.raises(PayloadError) as refused:
        parse_tracking(json.dumps({"batch": [{**TRACK, "type": "jump"}]}).encode(), None)
    assert refused.value.field == "batch.0.type"


@pytest.mark.parametrize("endpoint", ["track", "identify", "page", "screen"])
def test_each_endpoint_takes_its_message_with_the_write_key_in_http_basic(client, endpoint):
    answer = client.post(f"{BASE}/v1/{endpoint}", json=TRACK, headers=BASIC)
    assert answer.status_code == 200 and answer.json() == {"success": True}
    (person,) = people(client)
    assert client.get(f"/v1/persons/{person.person_id}").json()["interactions"] == {"web": 1}


def test_the_write_key_in_the_body_is_enough_and_a_gzip_batch_is_read(client):
    batch = {"batch": [{**TRACK, "type": "track", "messageId": f"m{i}"} for i in range(3)], "writeKey": KEY}
    answer = client.post(
        f"{BASE}/v1/batch",
        content=gzip.compress(json.dumps(batch).encode()),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    (person,) = people(client)
    assert client.get(f"/v1/persons/{person.person_id}").json()["interactions"] == {"web": 3}
    again = client.post(f"{BASE}/v1/batch", json=batch)  # the library's retry: the same three events
    assert again.status_code == 200
    assert client.get(f"/v1/persons/{person.person_id}").json()["interactions"] == {"web": 3}


@pytest.mark.parametrize(
    "headers, body",
    [
        ({}, {**TRACK}),  # no key at all
        ({}, {**TRACK, "writeKey": "wrong"}),
        ({"authorization": "Basic " + base64.b64encode(b"wrong:").decode()}, {**TRACK, "writeKey": KEY}),
    ],
)
def test_a_wrong_or_missing_write_key_is_refused_with_a_final_status_and_segments_error_fields(client, headers, body):
    answer = client.post(f"{BASE}/v1/track", json=body, headers=headers)
    assert answer.status_code == 403  # analytics-python retries no 4xx but 408, 410, 429 and 460
    assert answer.json()["code"] == "invalid_write_key" and answer.json()["message"]
    assert people(client) == []


def test_a_malformed_message_names_the_field_in_the_problem_and_in_segments_message(client):
    answer = client.post(f"{BASE}/v1/batch", json={"batch": [{"type": "track", "event": "x"}]}, headers=BASIC)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "batch.0.userId"
    assert answer.json()["code"] == "invalid" and "userId" in answer.json()["message"]


def test_a_gzip_bomb_is_refused_once_it_inflates_past_the_limit_and_garbage_is_not_gzip(client):
    bomb = gzip.compress(b" " * 50_000_000)  # 50 MB of blanks in about 50 KB
    assert len(bomb) < 200_000
    answer = client.post(f"{BASE}/v1/batch", content=bomb, headers={**BASIC, "content-encoding": "gzip"})
    assert answer.status_code == 413 and "inflates" in answer.json()["detail"]
    broken = client.post(f"{BASE}/v1/batch", content=b"not gzip", headers={**BASIC, "content-encoding": "gzip"})
    assert broken.status_code == 400 and broken.json()["errors"][0]["field"] == "header.Content-Encoding"
    brotli = client.post(f"{BASE}/v1/batch", content=b"x", headers={**BASIC, "content-encoding": "br"})
    assert brotli.status_code == 415
    assert people(client) == []


def test_a_gzip_body_is_read_on_every_route_and_its_inflated_nul_is_still_refused(client):
    person = client.post(
        "/v1/persons",
        content=gzip.compress(b'{"given_name": "Fabien", "family_name": "Bellemare"}'),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert person.status_code == 201, person.text
    nul = client.post(
        "/v1/persons",
        content=gzip.compress(b'{"given_name": "Fab\\u0000ien", "family_name": "Bellemare"}'),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert nul.status_code == 422


def test_inflating_reads_every_gzip_member_and_refuses_a_truncated_one():
    body = b'{"a": 1}' * 50_000
    assert inflated(gzip.compress(body) + gzip.compress(b"!"), b"gzip", 1_000_000) == body + b"!"
    assert inflated(gzip.compress(body), b"x-gzip", len(body)) == body  # exactly at the limit
    with pytest.raises(BodyTooLarge):
        inflated(gzip.compress(body), b"gzip", len(body) - 1)
    for truncated in (gzip.compress(body)[:-8], gzip.compress(body)[:12]):
        with pytest.raises(UndecodableBody):
            inflated(truncated, b"gzip", 1_000_000)
