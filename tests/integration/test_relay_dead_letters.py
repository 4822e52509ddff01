"""On PostgreSQL and Kafka: a stored event the wire contract refuses never stalls the relay."""

from __future__ import annotations

import json
import subprocess
import sys

from eventsourcing.application import Application, ProcessingEvent
from fastapi.testclient import TestClient

from services.adapters.dead_letters import read_dead_letters
from services.application.relay import EVENT_STORE
from services.bootstrap import event_store, production
from services.http.app import create_app
from tests.live import ROOT, env_of, relayed, wait_until
from tests.tokens import EVERY_ROLE


def test_a_bad_stored_event_is_dead_lettered_and_the_commands_after_it_are_relayed(settings):
    older = event_store(settings)
    try:  # what an older version stored: a title code the contract refuses
        titles = older._titles()
        titles.define_title("T" * 101, "Stored before the edge checked it")
        processing = ProcessingEvent()
        processing.collect_events(titles)
        Application._record(older, processing)
    finally:
        older.close()
    with TestClient(create_app(lambda: production(settings)), headers=EVERY_ROLE) as client:
        answer = client.put("/v1/titles/TREASURER", json={"label": "Treasurer"})
        assert answer.status_code == 200, answer.text
        wait_until(relayed(client, answer), 15, "the relay past the bad event")
        person = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"})
        assert person.status_code == 201, person.text
        wait_until(relayed(client, person), 15, "the relay to carry the person")
        refused = client.put("/v1/titles/" + "T" * 101, json={"label": "Again"})
        assert refused.status_code == 422
    letters: list = []
    wait_until(lambda: bool(letters.extend(read_dead_letters(settings)) or letters), 30, "the dead letter")
    [letter] = letters
    assert letter.origin_topic == EVENT_STORE
    assert letter.event_type.endswith("TitleDefined")
    assert "code" in letter.reason
    listed = crossview_cli(settings, "dead-letters", "list", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["origin"].startswith(f"{EVENT_STORE}:") and "TitleDefined" in row["type"]
    replayed = crossview_cli(settings, "dead-letters", "replay")
    assert "kept" in replayed.stderr and "0 dead letter(s) sent back" in replayed.stderr


def crossview_cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
