"""The relay's checkpoints, one contract for both adapters: in memory (the embedded default) and in
PostgreSQL (every API process of a deployment reads the checkpoints of whichever process relays)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from projections.postgres_store import open_pool
from services.adapters.relay_positions import PostgresRelayPositions
from services.application.relay import Checkpoint, MemoryRelayPositions

EVENTS = ("t.domain", 0)
OTHERS = ("t.domain", 1)


@pytest.fixture(params=["memory", "postgres"])
def positions(request) -> Iterator:
    if request.param == "memory":
        yield MemoryRelayPositions()
        return
    settings = request.getfixturevalue("settings")
    pool = open_pool(settings.database_url, max_size=2)
    yield PostgresRelayPositions(pool, settings.namespace)
    pool.close()


def test_a_relay_that_never_ran_starts_from_the_beginning(positions):
    assert positions.load() == Checkpoint(0, {})
    assert positions.landed(1) is None


def test_the_last_checkpoint_is_where_the_next_relay_starts(positions):
    positions.save(Checkpoint(3, {EVENTS: 2}))
    positions.save(Checkpoint(7, {EVENTS: 4, OTHERS: 0}))
    assert positions.load() == Checkpoint(7, {EVENTS: 4, OTHERS: 0})


def test_a_stored_event_landed_at_the_marks_of_the_first_checkpoint_at_or_past_it(positions):
    positions.save(Checkpoint(3, {EVENTS: 2}))
    positions.save(Checkpoint(7, {EVENTS: 4, OTHERS: 0}))
    assert positions.landed(1) == {EVENTS: 2}
    assert positions.landed(3) == {EVENTS: 2}
    assert positions.landed(4) == {EVENTS: 4, OTHERS: 0}
    assert positions.landed(7) == {EVENTS: 4, OTHERS: 0}
    assert positions.landed(8) is None  # stored, not relayed yet


def test_the_postgres_checkpoints_are_shared_between_processes_and_old_ones_are_pruned(settings):
    pools = [open_pool(settings.database_url, max_size=2) for _ in range(2)]
    try:
        relaying, reading = (PostgresRelayPositions(pool, settings.namespace) for pool in pools)
        relaying.save(Checkpoint(5, {EVENTS: 9}))
        assert reading.landed(5) == {EVENTS: 9}
        with pools[0].connection() as conn:
            conn.execute(
                f"UPDATE {settings.namespace}_meta.relay_checkpoint SET recorded_at = now() - interval '1 hour'"
            )
        relaying._saves = 99  # the next save prunes
        relaying.save(Checkpoint(6, {EVENTS: 10}))
        assert reading.landed(5) == {EVENTS: 10}  # a later checkpoint answers: a little more waiting, never less
        assert reading.load() == Checkpoint(6, {EVENTS: 10})
        relaying._saves = 99
        with pools[0].connection() as conn:
            conn.execute(
                f"UPDATE {settings.namespace}_meta.relay_checkpoint SET recorded_at = now() - interval '1 hour'"
            )
        relaying.save(Checkpoint(6, {EVENTS: 10}))  # the newest stays, however old
        assert reading.load() == Checkpoint(6, {EVENTS: 10})
    finally:
        for pool in pools:
            pool.close()
