"""A producer outside Crossview writes CloudEvents straight to <namespace>.interactions with the
official CloudEvents SDK's Kafka binding (binary mode: ce_* headers, the key the person id or a
contact point), and the projector takes them like any other event: into the view, or, when wrong,
into the dead letters with the reason."""

from __future__ import annotations

import uuid

from cloudevents.core.bindings.kafka import to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from schemas.events import INTERACTIONS
from services.adapters.dead_letters import read_dead_letters
from services.bootstrap import event_store
from tests.live import ProjectorThread, caught_up, wait_until

SMS_TYPE = "crossview.interaction.sms.v1"


def sms(event_id: str, number: str = "+33612345678", **data) -> dict:
    return {
        "direction": "inbound",
        "provider": "sms-gateway",
        "provider_id": event_id,
        "status": "received",
        "from_number": number,
        "to_number": "+33140000000",
        "body": "Bonjour",
        **data,
    }


def produce(publisher, settings, event: CloudEvent, key: str, without: tuple[str, ...] = ()) -> None:
    """What a producer does with the SDK: to_binary, then any Kafka client (ours here: the same
    murmur2 key partitioner as Java's and librdkafka's murmur2_random)."""
    message = to_binary(event, JSONFormat(), key_mapper=lambda _: key)
    headers = [(name, value) for name, value in message.headers.items() if name not in without]
    publisher.send_raw(settings.topic(INTERACTIONS), message.key.encode(), message.value, headers)


def event(event_id: str, **data) -> CloudEvent:
    return CloudEvent(
        attributes={"id": event_id, "source": "sms-gateway", "type": SMS_TYPE}, data=sms(event_id, **data)
    )


def test_binary_mode_events_keyed_by_a_person_or_a_contact_point_reach_the_view_and_bad_ones_are_dead_lettered(
    settings, publisher, store
):
    fabien = str(uuid.uuid4())
    produce(publisher, settings, event("gw-1"), fabien, without=("ce_time",))  # the record's timestamp stands
    produce(publisher, settings, event("gw-1"), fabien)  # the producer's retry: a duplicate
    produce(publisher, settings, event("gw-2", number="+33698765432"), "tel:+33698765432")  # whose? Crossview finds out
    produce(publisher, settings, event("gw-3", direction="sideways"), fabien)  # wrong: dead-lettered
    produce(publisher, settings, event("gw-4"), "tel:not-a-number")  # no such contact point: dead-lettered
    publisher.flush()

    with ProjectorThread(settings):
        wait_until(lambda: store.person(fabien) is not None, 60, "Fabien's view")
        wait_until(lambda: len(read_dead_letters(settings)) == 2, 60, "the two bad events in the dead letters")
        identities = event_store(settings)
        try:
            wait_until(
                lambda: identities.find_contact_point("phone", "+33698765432") is not None,
                60,
                "the number's provisional person",
            )
            anne = str(identities.find_contact_point("phone", "+33698765432").person_id)
        finally:
            identities.close()
        wait_until(lambda: store.person(anne) is not None, 60, "the re-keyed event in the view")
        wait_until(caught_up(store, settings), 60, "the projector to reach the end of the log")

    assert store.person(fabien).interactions == {"sms": 1}
    assert store.person(anne).interactions == {"sms": 1}
    (entry,) = store.timeline(anne, 10)
    assert entry.event_id == "gw-2"  # the same event, under the person the number leads to
    reasons = sorted(letter.reason for letter in read_dead_letters(settings))
    assert "direction" in reasons[0] and "gw-3" not in str(store.timeline(fabien, 10))
    assert "invalid contact point" in reasons[1]
