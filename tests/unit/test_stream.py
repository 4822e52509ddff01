"""The live stream on the embedded default: each change once, with its log position, resumed after
a disconnect from Last-Event-ID with nothing lost or repeated; a client that never reads holds up
nobody."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from services.application.auth import Role
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.sse import Stream, serving
from tests.tokens import EVERY_ROLE, bearer


def sms(person_id: str, n: int, body: str = "Hello") -> dict:
    return {
        "id": f"SM-live-{n}",
        "source": "test",
        "type": "crossview.interaction.sms.v1",
        "subject": person_id,
        "time": datetime(2026, 11, 20, 10, 0, n % 60, tzinfo=UTC).isoformat(),
        "data": {
            "direction": "inbound",
            "provider": "twilio",
            "provider_id": f"SM-live-{n}",
            "status": "received",
            "from_number": "+33612345678",
            "to_number": "+33140000000",
            "body": f"{body} {n}",
        },
    }


@pytest.fixture(scope="module")
def live():
    app = create_app(lambda: embedded(Settings()))
    with serving(app) as base:
        yield base, app.state.crossview.demo.fabien


def post(base: str, events: list[dict]) -> list[str]:
    answer = httpx.post(f"{base}/v1/events", json=events, headers=EVERY_ROLE, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["positions"]


def test_each_change_arrives_once_with_its_position_and_a_reconnect_resumes_where_it_stopped(live):
    base, fabien = live
    url = f"{base}/v1/persons/{fabien}/stream"
    stream = Stream(url, EVERY_ROLE)
    assert stream.status == 200 and stream.next().name == "ready"
    positions = post(base, [sms(fabien, 1)])
    (change,) = stream.changes(1)
    assert change.data["position"] == positions[0] and change.data["data"]["body"] == "Hello 1"
    assert change.data["event_type"] == "crossview.interaction.sms.v1" and change.data["channel"] == "sms"
    stream.close()

    missed = post(base, [sms(fabien, 2), sms(fabien, 3)])  # while nobody listens
    again = Stream(url, EVERY_ROLE, last_event_id=change.id)
    assert [c.data["position"] for c in again.changes(2)] == missed
    assert again.quiet(0.5)  # and nothing twice
    later = post(base, [sms(fabien, 4)])
    assert [c.data["position"] for c in again.changes(1)] == later
    again.close()


def test_a_stream_from_a_read_position_misses_nothing_written_since(live):
    base, fabien = live
    read = httpx.get(f"{base}/v1/persons/{fabien}", headers=EVERY_ROLE).json()
    written = post(base, [sms(fabien, 5)])  # after the page was read, before the stream opened
    after = ",".join(f"{tp}:{n - 1}" for tp, n in read["freshness"]["position"].items() if n)
    stream = Stream(f"{base}/v1/persons/{fabien}/stream?after={after}", EVERY_ROLE)
    assert [c.data["position"] for c in stream.changes(1)] == written
    stream.close()


def test_a_client_that_never_reads_does_not_hold_the_projector_back(live):
    base, fabien = live
    stuck = httpx.Client(timeout=httpx.Timeout(5, read=None))
    with stuck.stream("GET", f"{base}/v1/persons/{fabien}/stream", headers=EVERY_ROLE) as answer:
        assert answer.status_code == 200  # and never read again
        started = time.monotonic()
        for n in range(10):
            post(base, [sms(fabien, 100 + 50 * n + k, "x" * 1500) for k in range(50)])
        assert time.monotonic() - started < 30
        view = httpx.get(f"{base}/v1/persons/{fabien}", headers=EVERY_ROLE).json()
        assert view["interactions"]["sms"] >= 500
    stuck.close()


def test_a_bad_place_is_a_422_naming_it_and_the_stream_is_for_advisors(live):
    base, fabien = live
    bad = httpx.get(f"{base}/v1/persons/{fabien}/stream", params={"after": "nowhere"}, headers=EVERY_ROLE)
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "query.after")
    assert httpx.get(f"{base}/v1/persons/{fabien}/stream", headers=bearer(Role.ANALYST)).status_code == 403
    assert httpx.get(f"{base}/v1/persons/nobody/stream", headers=EVERY_ROLE).status_code == 404
