"""Time travel and replay on the real broker and database: the PostgreSQL checkpoints and cuts answer
what the pure fold says; `crossview replay --until T --into NAME` makes a read model equal to the
fold of the events up to T for every person, which queries name; a replay SIGKILLed midway resumes
and ends equal."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from channels.memory import MemoryDeadLetters, MemoryLog
from projections.as_of import Cut, view_as_of
from projections.memory_store import MemoryStore
from projections.postgres_models import Models
from projections.postgres_store import PostgresStore
from projections.projector import Projector
from schemas.events import stream_of
from services.application.ingest import Ingest
from services.bootstrap import production
from services.demo.data import seed_scenario, synthetic_interactions
from services.http.app import create_app
from tests.conftest import as_json, expected_views
from tests.live import ROOT, ProjectorThread, caught_up, env_of, wait_until
from tests.tokens import EVERY_ROLE

START = datetime(2026, 1, 1, tzinfo=UTC)


def at(store, person_id: str, cut: Cut):
    checkpoint, entries = store.events_as_of(person_id, cut)
    return view_as_of(person_id, entries, cut, checkpoint)


def late_and_early(events: list, seed: int) -> list:
    """The interactions with a tenth of them late: sent after others that happened later."""
    rng = random.Random(seed)
    return sorted(events, key=lambda e: e.time + timedelta(minutes=rng.choice([0] * 9 + [600])))


def test_postgresql_checkpoints_and_cuts_answer_what_the_memory_store_and_the_pure_fold_say(settings, store):
    events = seed_scenario()[0] + late_and_early(list(synthetic_interactions(people=6, per_person=40, seed=41)), 1)
    memory = MemoryStore()
    log = MemoryLog(settings.partitions)
    projectors = [Projector(s, MemoryDeadLetters(), checkpoint_every=7) for s in (store, memory)]
    for projector in projectors:
        projector.assign([p for topic in settings.event_topics for p in log.partitions_of(topic)])
    for topic in settings.event_topics:
        log.publish(topic, [e for e in events if settings.topic(stream_of(e.type)) == topic])
        for start in range(0, len(log.records(topic)), 23):
            for projector in projectors:
                projector.process(log.records(topic)[start : start + 23])
    people = sorted({e.subject for e in events})
    half = {where: offset // 2 for where, offset in store.position().items()}
    cuts = [Cut(START + timedelta(minutes=m)) for m in (-1, 5, 17, 33, 80, 2000)]
    cuts += [Cut(None, half), Cut(START + timedelta(minutes=20), half), Cut(datetime.now(UTC))]
    for cut in cuts:
        on_postgresql = as_json({p: at(store, p, cut) for p in people})
        assert on_postgresql == as_json({p: at(memory, p, cut) for p in people})
        if cut.position is None:  # by time alone: the fold of the events up to the instant
            kept = [e for e in events if e.time <= cut.until]
            assert {p: v for p, v in on_postgresql.items() if v} == expected_views(kept)
        for person_id in people[:3]:
            pages = [s.timeline(person_id, 1000, None, None, cut) for s in (store, memory)]
            assert [(e.event_id, e.statuses) for e in pages[0]] == [(e.event_id, e.statuses) for e in pages[1]]
    assert any(store.events_as_of(p, Cut(datetime.now(UTC)))[0] for p in people), "no checkpoint was served"


def replay(settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return cli(settings, "replay", *args, timeout=timeout)


def cli(settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def model_store(settings, store: PostgresStore, name: str) -> PostgresStore:
    found = Models(store._pool, settings.namespace).find(name)
    assert found is not None and found.finished_at is not None
    return PostgresStore(store._pool, settings.namespace, generation=found.generation)


def test_a_replay_until_an_instant_is_the_pure_fold_of_the_events_up_to_it_and_queries_name_it(
    settings, publisher, store
):
    scenario, ids = seed_scenario()
    interactions = late_and_early(list(synthetic_interactions(people=25, per_person=12, seed=43)), 2)
    events = scenario + interactions
    Ingest(publisher, settings, None).publish(events)
    until = START + timedelta(minutes=6, seconds=30)
    with ProjectorThread(settings):
        wait_until(caught_up(store, settings), 60, "the live projection")
        live = as_json({p: store.person(p) for p in expected_views(events)})
        result = replay(settings, "--until", until.isoformat(), "--into", "first_minutes", "--workers", "2")
        assert result.returncode == 0, result.stderr
        assert "read model 'first_minutes' is ready" in result.stdout
        bar = [line for line in result.stderr.split("\r") if "replay [" in line]  # the progress bar
        assert bar and "100%" in bar[-1], result.stderr[-2000:]
        expected = expected_views([e for e in events if e.time <= until])
        replayed = model_store(settings, store, "first_minutes")
        assert as_json({p: replayed.person(p) for p in expected}) == expected
        # Beside the live one, untouched; the same answer as the live read model's time travel.
        assert as_json({p: store.person(p) for p in live}) == live
        assert as_json({p: at(store, p, Cut(until)) for p in expected}) == expected
        assert replay(settings, "--until", until.isoformat(), "--into", "first_minutes").returncode == 1
        since = START + timedelta(minutes=3)
        assert (
            replay(settings, "--from", since.isoformat(), "--until", until.isoformat(), "--into", "window").returncode
            == 0
        )
        windowed = expected_views([e for e in events if since <= e.time <= until])
        assert as_json({p: model_store(settings, store, "window").person(p) for p in windowed}) == windowed

        with TestClient(create_app(lambda: production(settings)), headers=EVERY_ROLE) as client:
            person = next(p for p in expected if p != ids.fabien)
            answer = client.get(f"/v1/persons/{person}", params={"model": "first_minutes"}).json()
            assert answer["interactions"] == expected[person]["interactions"]
            assert answer["time_travel"]["model"] == "first_minutes"
            travelled = client.get(f"/v1/persons/{person}", params={"as_of": until.isoformat()}).json()
            assert travelled["interactions"] == expected[person]["interactions"]
            assert client.get(f"/v1/persons/{person}", params={"model": "nobody_made"}).status_code == 404
            assert client.get(f"/v1/persons/{person}", params={"model": "window"}).status_code == 200
            listed = cli(settings, "models", "list")
            assert "first_minutes  from the start until" in listed.stdout and "window  from" in listed.stdout
            assert cli(settings, "models", "drop", "window").returncode == 0
            assert client.get(f"/v1/persons/{person}", params={"model": "window"}).status_code == 404
            assert cli(settings, "models", "drop", "window").returncode == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_replay_killed_midway_resumes_and_ends_equal(settings, publisher, store, workers):
    events = list(synthetic_interactions(people=200, per_person=150, seed=44))
    Ingest(publisher, settings, None).publish(events)
    until = START + timedelta(minutes=100)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "replay", "--until", until.isoformat(), "--into", "interrupted"]
        + ["--workers", workers],
        env=env_of(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    models = Models(store._pool, settings.namespace)
    total = len(events)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline:
            model = models.find("interrupted")
            if model is not None:
                done = sum(offset for _, _, offset in _offsets(store, model.generation))
                if done > 0:
                    break
            time.sleep(0.02)
        assert 0 < done < total, f"the replay was not caught midway ({done} of {total})"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert models.find("interrupted").finished_at is None
    time.sleep(1)  # the killed replay's processes see their parent gone at their next batch
    result = replay(settings, "--until", until.isoformat(), "--into", "interrupted", "--workers", workers)
    assert result.returncode == 0, result.stderr
    assert "(resumed)" in result.stdout
    expected = expected_views([e for e in events if e.time <= until])
    replayed = model_store(settings, store, "interrupted")
    assert as_json({p: replayed.person(p) for p in expected}) == expected


def _offsets(store: PostgresStore, generation: int) -> list[tuple]:
    with store._pool.connection() as conn:
        return conn.execute(
            sql.SQL("SELECT topic, partition, next_offset FROM {}.offsets").format(
                sql.Identifier(f"{store._namespace}_g{generation}")
            )
        ).fetchall()
