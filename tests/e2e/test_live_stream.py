"""The live stream across processes on the real services: a client connected to one API process
gets the changes that a projector in another process committed (PostgreSQL's NOTIFY, sent in the
projector's transaction), and after a disconnect resumes on the other API process from its
Last-Event-ID with nothing lost and nothing twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from tests.e2e.test_http import wait_for_http
from tests.live import crossview_process, free_port
from tests.sse import Stream
from tests.tokens import EVERY_ROLE


def sms(person_id: str, n: int) -> dict:
    return {
        "id": f"{person_id}-sms-{n}",
        "source": "test",
        "type": "crossview.interaction.sms.v1",
        "subject": person_id,
        "time": datetime(2026, 11, 20, 10, 0, n, tzinfo=UTC).isoformat(),
        "data": {
            "direction": "inbound",
            "provider": "twilio",
            "provider_id": f"{person_id}-sms-{n}",
            "status": "received",
            "from_number": "+33612345678",
            "to_number": "+33140000000",
            "body": f"Message {n}",
        },
    }


def test_a_stream_on_one_api_process_gets_what_another_process_projected_and_resumes_on_the_other(settings, tmp_path):
    log = tmp_path / "processes.log"
    projector = crossview_process(settings, "projector", log=log)
    servers, bases = [], []
    try:
        for _ in range(2):
            port = free_port()
            servers.append(crossview_process(settings, "serve", "--port", str(port), log=log))
            bases.append(f"http://127.0.0.1:{port}")
        for base, server in zip(bases, servers, strict=True):
            wait_for_http(f"{base}/livez", server, log)
        writer, reader = bases
        person = str(uuid.uuid4())
        with httpx.Client(timeout=30, headers=EVERY_ROLE) as client:

            def post(*numbers: int) -> list[str]:
                answer = client.post(f"{writer}/v1/events", json=[sms(person, n) for n in numbers])
                assert answer.status_code == 202, answer.text
                return answer.json()["positions"]

            (first,) = post(1)
            seen = client.get(f"{reader}/v1/persons/{person}", params={"min_position": first, "wait_ms": 20000})
            assert seen.json()["freshness"]["caught_up"], seen.text

            stream = Stream(f"{reader}/v1/persons/{person}/stream", EVERY_ROLE)
            assert stream.status == 200 and stream.next().name == "ready"
            sent = post(2, 3)
            changes = stream.changes(2, timeout_s=30)
            assert [c.data["position"] for c in changes] == sent
            assert [c.data["data"]["body"] for c in changes] == ["Message 2", "Message 3"]
            stream.close()

            missed = post(4, 5)  # while the client is away
            client.get(f"{reader}/v1/persons/{person}", params={"min_position": missed[-1], "wait_ms": 20000})
            resumed = Stream(f"{writer}/v1/persons/{person}/stream", EVERY_ROLE, last_event_id=changes[-1].id)
            assert [c.data["position"] for c in resumed.changes(2, timeout_s=30)] == missed
            assert resumed.quiet(1.0)  # nothing twice
            later = post(6)
            assert [c.data["position"] for c in resumed.changes(1, timeout_s=30)] == later
            resumed.close()
    finally:
        for process in [*servers, projector]:
            process.terminate()
            process.wait(timeout=30)
