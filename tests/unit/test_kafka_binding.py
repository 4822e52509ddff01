"""Records written by others with the CloudEvents Kafka binding (the official SDK's to_binary):
the subject may be the key alone, the time the record's own timestamp, the content type may carry
parameters; a record keyed by a contact point is handed to the router, or dead-lettered without one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings.kafka import to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from channels.memory import MemoryDeadLetters
from projections.memory_store import MemoryStore
from projections.projector import Projector
from schemas.envelope import EnvelopeError, WireRecord, contact_point_of, from_binary

TOPIC = "t.interactions"
SMS = {
    "direction": "inbound",
    "provider": "sms-gateway",
    "provider_id": "gw-1",
    "status": "received",
    "from_number": "+33612345678",
    "to_number": "+33140000000",
}
FABIEN = str(uuid.UUID(int=7))


def record(key: str, offset: int = 0, without: tuple[str, ...] = (), **attributes) -> WireRecord:
    event = CloudEvent(
        attributes={"id": f"gw-{offset}", "source": "gw", "type": "crossview.interaction.sms.v1", **attributes},
        data=SMS,
    )
    message = to_binary(event, JSONFormat(), key_mapper=lambda _: key)
    headers = tuple((k, v) for k, v in message.headers.items() if k not in without)
    return WireRecord(TOPIC, 0, offset, key.encode(), message.value, headers, timestamp_ms=1_795_000_000_000)


def test_the_key_stands_for_a_missing_subject_and_the_record_timestamp_for_a_missing_time():
    event = from_binary(record(FABIEN, without=("ce_time",)))
    assert event.subject == FABIEN
    assert event.time == datetime.fromtimestamp(1_795_000_000, UTC)
    with_subject = from_binary(
        record("partition-key", subject=FABIEN, datacontenttype="application/json; charset=utf-8")
    )
    assert with_subject.subject == FABIEN


def test_without_subject_nor_key_or_time_nor_timestamp_the_record_is_refused_saying_so():
    no_key = record(FABIEN)._replace(key=None)
    with pytest.raises(EnvelopeError, match="ce_subject"):
        from_binary(no_key)
    no_time = record(FABIEN, without=("ce_time",))._replace(timestamp_ms=None)
    with pytest.raises(EnvelopeError, match="ce_time"):
        from_binary(no_time)
    with pytest.raises(EnvelopeError, match="content-type"):
        from_binary(record(FABIEN, datacontenttype="text/plain"))


def test_contact_points_are_told_from_person_ids():
    assert contact_point_of("mailto:fabien@fabulous-garden.example") == ("email", "fabien@fabulous-garden.example")
    assert contact_point_of("tel:+33612345678") == ("phone", "+33612345678")
    assert contact_point_of(FABIEN) is None and contact_point_of("tel:") is None and contact_point_of("x:y") is None


class Router:
    def __init__(self) -> None:
        self.asked: list[tuple[int, str, str]] = []

    def reroute(self, addressed):
        self.asked += [(r.offset, kind, address) for r, kind, address in addressed]
        return [(r, "no such number") for r, kind, address in addressed if address == "+1"]


def test_records_keyed_by_a_contact_point_go_to_the_router_and_its_refusals_to_the_dead_letters():
    router, dead = Router(), MemoryDeadLetters()
    projector = Projector(MemoryStore(), dead, router=router)
    projector.assign([(TOPIC, 0)])
    outcome = projector.process([record(FABIEN, 0), record("tel:+33612345678", 1), record("tel:+1", 2)])
    assert router.asked == [(1, "phone", "+33612345678"), (2, "phone", "+1")]
    assert (outcome.applied, outcome.rerouted, outcome.dead_lettered) == (1, 1, 1)
    assert [(r.offset, reason) for r, reason in dead.letters] == [(2, "no such number")]
    assert projector.positions() == {(TOPIC, 0): 3}


def test_without_a_router_a_record_keyed_by_a_contact_point_is_dead_lettered_with_the_reason():
    dead = MemoryDeadLetters()
    projector = Projector(MemoryStore(), dead)
    projector.assign([(TOPIC, 0)])
    projector.process([record("mailto:fabien@fabulous-garden.example", 0)])
    ((_, reason),) = dead.letters
    assert "contact point email:'fabien@fabulous-garden.example'" in reason
