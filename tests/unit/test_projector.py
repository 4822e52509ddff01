"""The projector's rules on the in-memory store; the same rules run on PostgreSQL in tests/integration."""

import pytest

from channels.memory import MemoryDeadLetters, MemoryLog
from projections.memory_store import MemoryStore
from projections.ports import StaleOffsets
from projections.projector import NotCoPartitioned, Projector
from schemas.envelope import WireRecord
from services.demo.data import synthetic_interactions
from tests.conftest import as_json, expected_views

TOPIC = "t.interactions"


def projected(events, partitions=3):
    """Events written to an in-memory log, and the records it holds."""
    log = MemoryLog(partitions)
    log.publish(TOPIC, events)
    return log.records(TOPIC), [(TOPIC, p) for p in range(partitions)]


def new_projector(store=None):
    dead = MemoryDeadLetters()
    return Projector(store or MemoryStore(), dead), dead


def test_every_event_is_applied_once_and_the_offsets_move_with_the_rows():
    events = list(synthetic_interactions(people=4, per_person=5))
    records, partitions = projected(events)
    projector, _ = new_projector()
    projector.assign(partitions)
    projector.process(records)
    store = projector._store
    assert as_json({p: store.person(p) for p in expected_views(events)}) == expected_views(events)
    assert sum(store.position().values()) == len(records)


def test_a_redelivered_batch_and_a_republished_event_count_once():
    events = list(synthetic_interactions(people=2, per_person=3))
    records, partitions = projected(events + events[:2])  # the producer retried two events
    projector, _ = new_projector()
    projector.assign(partitions)
    outcome = projector.process(records)
    assert (outcome.applied, outcome.duplicates) == (6, 2)
    projector.assign(partitions)
    assert projector.process(records).applied == 0  # the same records again: nothing new
    assert as_json({p: projector._store.person(p) for p in expected_views(events)}) == expected_views(events)


def test_an_undecodable_record_is_dead_lettered_with_its_reason_and_the_partition_moves_on():
    first, second = (r for r in projected(list(synthetic_interactions(people=1, per_person=2)), partitions=1)[0])
    poison = WireRecord(TOPIC, 0, 1, first.key, b"{not json", ())
    later = WireRecord(TOPIC, 0, 2, second.key, second.value, second.headers)
    projector, dead = new_projector()
    projector.assign([(TOPIC, 0)])
    outcome = projector.process([first, poison, later])
    assert (outcome.applied, outcome.dead_lettered) == (2, 1)
    assert [(record.offset, reason.split(":")[0]) for record, reason in dead.letters] == [(1, "EnvelopeError")]
    assert "missing CloudEvents header" in dead.letters[0][1]
    assert projector.positions() == {(TOPIC, 0): 3}
    again = WireRecord(TOPIC, 0, 3, first.key, first.value, first.headers)  # the producer retried the first one
    assert projector.process([again]).duplicates == 1


def test_a_member_that_lost_its_partition_cannot_commit_over_the_new_owner():
    events = list(synthetic_interactions(people=3, per_person=4))
    records, partitions = projected(events, partitions=1)
    store = MemoryStore()
    old_owner, _ = new_projector(store)
    new_owner, _ = new_projector(store)
    old_owner.assign(partitions)
    new_owner.assign(partitions)  # the group moved the partition while the old owner was busy
    new_owner.process(records[:6])
    with pytest.raises(StaleOffsets):
        old_owner.process(records)
    assert store.position() == {(TOPIC, 0): 6}
    assert sum(v.events_applied for v in (store.person(p) for p in expected_views(events)) if v) == 6


def test_records_of_a_revoked_partition_are_ignored():
    records, partitions = projected(list(synthetic_interactions(people=3, per_person=2)), partitions=2)
    projector, _ = new_projector()
    projector.assign(partitions)
    projector.revoke([(TOPIC, 1)])
    projector.process(records)
    assert set(projector._store.position()) == {(TOPIC, 0)}


def test_a_member_given_different_partition_numbers_per_topic_refuses_to_project():
    projector, _ = new_projector()
    with pytest.raises(NotCoPartitioned, match="range assignor"):
        projector.assign([("t.interactions", 0), ("t.domain", 1)])
    projector.assign([("t.interactions", 0), ("t.domain", 0), ("t.interactions", 2), ("t.domain", 2)])


def test_views_kept_in_memory_are_dropped_when_a_commit_is_refused():
    events = list(synthetic_interactions(people=2, per_person=4))
    records, partitions = projected(events, partitions=1)
    store = MemoryStore()
    member, _ = new_projector(store)
    member.assign(partitions)
    member.process(records[:4])
    intruder, _ = new_projector(store)  # took the partition over and moved on
    intruder.assign(partitions)
    intruder.process(records[4:6])
    with pytest.raises(StaleOffsets):
        member.process(records[4:])
    member.assign(partitions)  # what the run loop does after a refusal
    member.process(records[6:])
    assert as_json({p: store.person(p) for p in expected_views(events)}) == expected_views(events)
