"""An operator lists the dead letters with their reasons and replays them once the cause is fixed."""

from __future__ import annotations

import json
import subprocess
import sys

from channels.kafka import KafkaDeadLetters
from schemas.envelope import WireRecord, to_binary
from schemas.events import INTERACTIONS
from services.adapters.dead_letters import read_dead_letters, replay
from services.demo.data import synthetic_interactions
from tests.live import ROOT, ProjectorThread, caught_up, env_of, wait_until


def test_dead_letters_are_listed_with_their_reason_and_replayed_once_readable(settings, publisher, store):
    topic = settings.topic(INTERACTIONS)
    # An event an older version could not read (dead-lettered then), and one that is still garbage.
    (readable,) = synthetic_interactions(people=1, per_person=1)
    key, value, headers = to_binary(readable)
    dead_letters = KafkaDeadLetters(publisher, settings.dead_letter_topic)
    dead_letters.send(WireRecord(topic, 0, 41, key, value, tuple(headers)), "UnknownEventType: not in version 0.0.9")
    dead_letters.flush()
    publisher.send_raw(topic, key, b"{not json", [*(h for h in headers if h[0] != "ce_id"), ("ce_id", b"bad-1")])
    publisher.flush()

    with ProjectorThread(settings):
        wait_until(lambda: len(read_dead_letters(settings)) == 2, 60, "the garbage to be dead-lettered")
        letters = {letter.record.value: letter for letter in read_dead_letters(settings)}
        assert (letters[value].origin_topic, letters[value].origin_offset) == (topic, 41)
        assert "event data is not a JSON object" in letters[b"{not json"].reason
        assert store.person(readable.subject) is None

        listed = subprocess.run(
            [sys.executable, "-m", "services.cli", "dead-letters", "list", "--json"],
            env=env_of(settings),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert sorted(r["reason"].split(":")[0] for r in rows) == ["EnvelopeError", "UnknownEventType"]
        assert {r["type"] for r in rows} == {readable.type}

        assert replay(settings, [letters[value]]) == 1
        assert replay(settings, [letters[value]]) == 1  # replayed twice by mistake: counted once
        wait_until(caught_up(store, settings), 60, "the projector")
        wait_until(lambda: store.person(readable.subject) is not None, 30, "the replayed event")
        assert store.person(readable.subject).events_applied == 1

        replay(settings, [letters[b"{not json"]])  # still garbage: dead-lettered again, nothing applied
        wait_until(lambda: len(read_dead_letters(settings)) == 3, 60, "the garbage to come back")
