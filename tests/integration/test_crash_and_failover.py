"""Crashes and failover with real processes: SIGKILL at random points, a member lost mid-stream."""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time

import pytest

from schemas.events import AUDIT
from services.application.ingest import Ingest
from services.demo.data import synthetic_interactions
from tests.conftest import as_json, expected_views
from tests.live import caught_up, crossview_process, wait_until

pytestmark = pytest.mark.slow


class Producer(threading.Thread):
    """Publishes events in small chunks over a few tens of seconds, with some retried (duplicated)."""

    def __init__(self, publisher, settings, events, chunk: int, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.ingest = Ingest(publisher, settings, None)
        self.events, self.chunk, self.pause_s = events, chunk, pause_s
        self.sent = []
        self.error = None

    def run(self) -> None:
        try:
            for start in range(0, len(self.events), self.chunk):
                batch = self.events[start : start + self.chunk]
                retried = self.sent[-5:]  # as if the acknowledgement of the previous send was lost
                self.ingest.publish(batch + retried)
                self.sent += batch
                time.sleep(self.pause_s)
        except Exception as error:  # surfaced by the test, not swallowed
            self.error = error


def total_position(store) -> int:
    return sum(store.position().values())


def assert_exact(store, events) -> None:
    expected = expected_views(events)
    assert as_json({p: store.person(p) for p in expected}) == expected
    for person_id in expected:
        assert len(store.timeline(person_id, limit=10_000)) == sum(1 for e in events if e.subject == person_id)


def test_a_projector_killed_again_and_again_while_20000_events_flow_loses_and_doubles_nothing(
    settings, publisher, store, tmp_path
):
    events = list(synthetic_interactions(people=500, per_person=40, seed=11))
    assert len(events) == 20_000
    producer = Producer(publisher, settings, events, chunk=250, pause_s=0.4)
    producer.start()
    rng = random.Random(int.from_bytes(os.urandom(4)))
    log = tmp_path / "projector.log"
    kills_mid_stream = 0
    for _ in range(6):
        before = total_position(store)
        process = crossview_process(settings, "projector", log=log)
        # Let it join the group and commit some work, then kill it at a random point of its batches.
        deadline = time.monotonic() + 30
        while total_position(store) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if total_position(store) > before:
            kills_mid_stream += 1  # this process had committed batches: it died in the middle of its work
    producer.join(timeout=120)
    assert producer.error is None and len(producer.sent) == len(events)

    survivor = crossview_process(settings, "projector", log=log)
    try:
        wait_until(caught_up(store, settings), 120, "the restarted projector to catch up")
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    assert kills_mid_stream >= 3, log.read_text()[-3000:]
    assert_exact(store, events)


def assignments(log_text: str) -> list[set[str]]:
    return [set(re.findall(r"'([^']+:\d+)'", line)) for line in log_text.splitlines() if "assigned {" in line]


def test_when_one_of_two_projectors_stops_the_survivor_takes_over_its_partitions(settings, publisher, store, tmp_path):
    events = list(synthetic_interactions(people=200, per_person=50, seed=12))
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = crossview_process(settings, "projector", log=logs[0])
    second = crossview_process(settings, "projector", log=logs[1])
    # Each projector process runs a member for the person views and one for the audit trail (a
    # group of its own): the survivor must end up owning every partition of both.
    audit = settings.topic(AUDIT)
    all_partitions = {f"{t}:{p}" for t in settings.event_topics if t != audit for p in range(settings.partitions)}
    audit_partitions = {f"{audit}:{p}" for p in range(settings.partitions)}
    try:
        wait_until(
            lambda: all(any(a for a in assignments(log.read_text())) for log in logs),
            60,
            "both members to get partitions",
        )
        producer = Producer(publisher, settings, events, chunk=200, pause_s=0.2)
        producer.start()
        time.sleep(4)
        first.send_signal(signal.SIGKILL)
        first.wait()
        producer.join(timeout=120)
        assert producer.error is None
        wait_until(
            lambda: (
                {frozenset(all_partitions), frozenset(audit_partitions)}
                <= {frozenset(a) for a in assignments(logs[1].read_text())}
            ),
            60,
            "the survivor to own every partition",
        )
        wait_until(caught_up(store, settings), 120, "the survivor to catch up")
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    shared = [a for a in assignments(logs[0].read_text()) if a & all_partitions][-1]
    assert shared and shared != all_partitions  # the first member really owned a share before it died
    assert_exact(store, events)
