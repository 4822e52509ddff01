"""The projector on the real broker and database: exact, in order, deduplicated, poison-proof."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from kafka import KafkaConsumer

from schemas.events import INTERACTIONS
from services.demo.data import seed_scenario, synthetic_interactions
from services.settings import Settings
from tests.conftest import as_json, expected_views
from tests.live import ProjectorThread, caught_up, wait_until


def publish(publisher, settings: Settings, events) -> None:
    from services.application.ingest import Ingest

    Ingest(publisher, settings, None).publish(list(events))


def test_n_events_produced_are_reflected_exactly_per_person_and_in_order(settings, publisher, store):
    events = list(synthetic_interactions(people=40, per_person=25)) + seed_scenario()[0]
    publish(publisher, settings, events)
    with ProjectorThread(settings):
        wait_until(caught_up(store, settings), 60, "the projector to catch up")
    expected = expected_views(events)
    assert as_json({p: store.person(p) for p in expected}) == expected
    for person_id in expected:
        produced = [e.id for e in sorted(events, key=lambda e: (e.time, e.id)) if e.subject == person_id]
        timeline = store.timeline(person_id, limit=1000)
        assert [entry.event_id for entry in reversed(timeline)] == produced


def test_the_same_event_published_twice_counts_once(settings, publisher, store):
    events = list(synthetic_interactions(people=10, per_person=10))
    publish(publisher, settings, events)
    publish(publisher, settings, events[:30])  # a producer's retry after a lost acknowledgement
    with ProjectorThread(settings) as running:
        wait_until(caught_up(store, settings), 60, "the projector to catch up")
    assert running.projector.totals.duplicates == 30
    expected = expected_views(events)
    assert as_json({p: store.person(p) for p in expected}) == expected


def test_malformed_and_unknown_events_go_to_the_dead_letter_topic_and_later_events_still_apply(
    settings, publisher, store
):
    person = "fabien-bellemare"
    topic = settings.topic(INTERACTIONS)
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_source", b"test"),
        ("ce_subject", person.encode()),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
    ]
    publisher.send_raw(
        topic,
        person.encode(),
        b"{this is not json",
        [("ce_id", b"bad-1"), ("ce_type", b"crossview.interaction.sms.v1"), *headers],
    )
    publisher.send_raw(
        topic, person.encode(), b"{}", [("ce_id", b"bad-2"), ("ce_type", b"crossview.interaction.fax.v1"), *headers]
    )
    publisher.flush()
    later = [e.model_copy(update={"subject": person}) for e in synthetic_interactions(people=1, per_person=3)]
    publish(publisher, settings, later)

    with ProjectorThread(settings) as running:
        wait_until(caught_up(store, settings), 60, "the projector to catch up")
    assert running.projector.totals.dead_lettered == 2
    assert store.person(person).events_applied == 3

    consumer = KafkaConsumer(
        settings.dead_letter_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        group_id=f"dlq-reader-{uuid.uuid4()}",
    )
    letters = {dict(m.headers)["ce_id"].decode(): dict(m.headers) for m in consumer}
    consumer.close()
    assert set(letters) == {"bad-1", "bad-2"}
    assert b"event data is not a JSON object" in letters["bad-1"]["dlq_reason"]
    assert b"unknown event type 'crossview.interaction.fax.v1'" in letters["bad-2"]["dlq_reason"]
    assert json.loads(letters["bad-1"]["dlq_origin"])["topic"] == topic


def test_topics_whose_partition_count_differs_from_the_settings_are_refused(settings):
    from services.bootstrap import create_topics

    with pytest.raises(ValueError, match="CROSSVIEW_PARTITIONS"):
        create_topics(settings.model_copy(update={"partitions": settings.partitions + 2}))


def test_text_postgresql_cannot_hold_from_another_producer_is_dead_lettered_not_a_stop(settings, publisher, store):
    """The edge refuses NUL characters and lone surrogates; a record from another producer can still
    carry them, and PostgreSQL text holds neither: the record is parked, the partition goes on."""
    person = "fabien-bellemare"
    topic = settings.topic(INTERACTIONS)
    sms = {
        "direction": "inbound",
        "provider": "other",
        "provider_id": "x",
        "status": "received",
        "from_number": "+33612345678",
        "to_number": "+33140000000",
    }
    bodies = {"nul": "STOP\\u0000", "lone-high": "\\ud83d", "lone-low": "ab\\udc00"}
    for name, body in bodies.items():
        value = json.dumps(sms)[:-1].encode() + f', "body": "{body}"}}'.encode()
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", name.encode()),
            ("ce_source", b"another-producer"),
            ("ce_type", b"crossview.interaction.sms.v1"),
            ("ce_subject", person.encode()),
            ("ce_time", datetime.now(UTC).isoformat().encode()),
        ]
        publisher.send_raw(topic, person.encode(), value, headers)
    publisher.flush()
    later = [e.model_copy(update={"subject": person}) for e in synthetic_interactions(people=1, per_person=2)]
    publish(publisher, settings, later)

    with ProjectorThread(settings) as running:
        wait_until(caught_up(store, settings), 60, "the projector past the unstorable records")
    assert running.projector.totals.dead_lettered == 3
    assert store.person(person).events_applied == 2
