"""Two API processes and a separate relay, as an operator scales out: commands and webhooks answer
once stored, whichever process holds the relay lock, and every stored event reaches the log once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg

from schemas.events import DOMAIN, INTERACTIONS, stream_of
from services.bootstrap import event_store
from tests.e2e.test_http import wait_for_http
from tests.faults import log_ids, stored_events
from tests.integration.test_audit_outbox import accesses_on_the_topic
from tests.live import ProjectorThread, crossview_process, free_port, wait_until
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures"
# A relay-bound answer would wait for the broker's acknowledgement this long: longer than the
# client's patience below, so a command that waited for the relay fails the test.
SETTINGS = {"CROSSVIEW_ACK_TIMEOUT_S": "60", "CROSSVIEW_INSECURE_SKIP_SIGNATURES": "1"}
PATIENCE_S = 20


def test_two_api_processes_answer_while_the_separate_relay_is_frozen_and_every_event_reaches_the_log_once(
    settings, store, tmp_path
):
    log = tmp_path / "processes.log"
    relay = crossview_process(settings, "relay", log=log, env=SETTINGS)
    servers, bases = [], []
    try:
        wait_until(lambda: relay_lock_held(settings), 60, "the separate relay to take the relay lock")
        os.kill(relay.pid, signal.SIGSTOP)  # it keeps the lock, and relays nothing
        for _ in range(2):
            port = free_port()
            servers.append(crossview_process(settings, "serve", "--port", str(port), log=log, env=SETTINGS))
            bases.append(f"http://127.0.0.1:{port}")
        for base, server in zip(bases, servers, strict=True):
            wait_for_http(f"{base}/livez", server, log)

        people, webhooks = [], 0
        with httpx.Client(timeout=PATIENCE_S, headers=EVERY_ROLE) as client:
            for i in range(10):
                base = bases[i % 2]
                answer = client.post(
                    f"{base}/v1/persons", json={"given_name": f"Fabien{i}", "family_name": "Bellemare"}
                )
                assert answer.status_code == 201, answer.text
                assert answer.json()["relayed"] is False  # the relay is frozen: stored, not yet on the log
                people.append((answer.json()["id"], answer.json()["positions"][-1], bases[(i + 1) % 2]))
            for i, base in enumerate(bases):  # an SMS from a number nobody has yet: a new provisional person
                sms = (FIXTURES / "twilio" / "inbound_sms.form").read_text().strip()
                sms = sms.replace("%2B33612345678", f"%2B3361234567{i}").replace("SM1f0e", f"SM{i}f0e")
                answer = client.post(
                    f"{base}/v1/ingest/twilio/sms",
                    content=sms,
                    headers={"content-type": "application/x-www-form-urlencoded"},
                )
                assert answer.status_code < 300, answer.text
                webhooks += 1

            os.kill(relay.pid, signal.SIGCONT)
            with ProjectorThread(settings):
                for person_id, position, other_base in people:  # read your write on the other process
                    view = client.get(
                        f"{other_base}/v1/persons/{person_id}",
                        params={"min_position": position, "wait_ms": 15000},
                    )
                    assert view.status_code == 200, view.text
                    assert view.json()["freshness"]["caught_up"] is True
                    assert view.json()["family_name"] == "Bellemare"
    finally:
        for process in [*servers, relay]:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
        for process in [*servers, relay]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    stored = stored_wire_event_ids(settings)
    assert len(stored) >= 10 + webhooks  # ten people, a provisional person per new number
    assert sorted(ids_on(settings, DOMAIN)) == sorted(stored)  # each stored event once: none twice, none missing
    assert len(ids_on(settings, INTERACTIONS)) == webhooks


def relay_lock_held(settings) -> bool:
    """Whether another session holds the namespace's relay lock (taken and let go at once if not)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        key = f"{settings.namespace}:relay"
        free = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]
        if free:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        return not free


def stored_wire_event_ids(settings) -> list[str]:
    app = event_store(settings)
    try:
        return [event.id for event in stored_events(app)]
    finally:
        app.close()


def ids_on(settings, stream: str) -> list[str]:
    """The ce_id of every record of a stream's topic, as often as it is there."""
    counts = log_ids(settings)
    return [
        event_id for event_id, n in counts.items() if stream_of(log_ids.types[event_id]) == stream for _ in range(n)
    ]


def test_serve_with_two_workers_answers_from_both_processes_on_one_port(settings, tmp_path):
    port, log = free_port(), tmp_path / "workers.log"
    server = crossview_process(settings, "serve", "--port", str(port), "--workers", "2", log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/livez", server, log)
        wait_until(lambda: len(children(server.pid)) == 2, 60, "two worker processes")
        with httpx.Client(base_url=base, timeout=PATIENCE_S, headers=EVERY_ROLE) as client:
            person = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"})
            assert person.status_code == 201, person.text
            with ProjectorThread(settings):
                for _ in range(6):  # whichever worker answers, it reads its own write
                    view = client.get(
                        f"/v1/persons/{person.json()['id']}",
                        params={"min_position": person.json()["positions"][-1], "wait_ms": 15000},
                    )
                    assert view.status_code == 200 and view.json()["freshness"]["caught_up"], view.text
    finally:
        server.terminate()
        server.wait(timeout=30)


def children(pid: int) -> list[int]:
    """The worker processes a `serve --workers` process started (multiprocessing's), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_serve_no_relay_stores_commands_and_leaves_publishing_to_crossview_relay(settings, store, tmp_path):
    """Neither the stored events nor the audit records leave a `serve --no-relay`: `crossview relay`
    carries both."""
    log, port = tmp_path / "no-relay.log", free_port()
    server = crossview_process(settings, "serve", "--port", str(port), "--no-relay", log=log, env=SETTINGS)
    relay = None
    try:
        wait_for_http(f"http://127.0.0.1:{port}/livez", server, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=PATIENCE_S, headers=EVERY_ROLE) as client:
            person = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"})
            assert person.status_code == 201 and person.json()["relayed"] is False, person.text
            person_id = person.json()["id"]
            assert client.get(f"/v1/persons/{person_id}").status_code in (200, 404)  # a read: its record kept
            time.sleep(2)  # an in-process relay would have published by now
            assert ids_on(settings, DOMAIN) == [] and not relay_lock_held(settings)
            assert person_id not in {a["subject"] for a in accesses_on_the_topic(settings)}
            relay = crossview_process(settings, "relay", log=log)
            with ProjectorThread(settings):
                view = client.get(
                    f"/v1/persons/{person_id}",
                    params={"min_position": person.json()["positions"][-1], "wait_ms": 15000},
                )
            assert view.status_code == 200 and view.json()["freshness"]["caught_up"], view.text
        assert sorted(ids_on(settings, DOMAIN)) == sorted(stored_wire_event_ids(settings))
        reads = [a for a in accesses_on_the_topic(settings) if a["subject"] == person_id and a["kind"] == "read"]
        assert len(reads) >= 2, reads  # the read before the relay started, and the one after
    finally:
        for process in (server, relay):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
