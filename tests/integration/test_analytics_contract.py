"""One contract, every store: the analysts' indicators come out the same from memory and PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest

from channels.memory import MemoryDeadLetters
from projections.analytics import campaign_days, campaign_list, first_reached, interaction_mix
from projections.memory_store import MemoryStore
from projections.projector import Projector
from schemas.envelope import WireRecord, to_binary
from schemas.events import EVENT_TYPES
from services.demo.data import seed_scenario, synthetic_interactions


def records_of(events) -> list[WireRecord]:
    offsets: Counter = Counter()
    records = []
    for event in events:
        topic = f"t.{EVENT_TYPES[event.type].stream}"
        key, value, headers = to_binary(event)
        records.append(WireRecord(topic, 0, offsets[topic], key, value, tuple(headers)))
        offsets[topic] += 1
    return records


def projected(store):
    scenario, _ = seed_scenario()
    events = scenario + list(synthetic_interactions(people=15, per_person=6, seed=41))
    projector = Projector(store, MemoryDeadLetters())
    projector.assign([("t.interactions", 0), ("t.domain", 0)])
    projector.process(records_of(events))
    return store


def figures(store) -> dict:
    reach = first_reached(store.campaign_events(None))
    counts = store.function_interaction_counts()
    references = store.reference_data({o for _, o, _, _ in counts if o})
    return {
        "campaigns": campaign_list(reach),
        "spring": campaign_days(first_reached(store.campaign_events("spring-promo")), "spring-promo"),
        "mix": interaction_mix(counts, references.organisations, references.titles),
    }


@pytest.fixture
def both(store):
    return figures(projected(MemoryStore())), figures(projected(store))


def test_memory_and_postgresql_give_the_same_campaigns_days_and_interaction_mix(both):
    memory, postgres = both
    assert memory == postgres
    assert [c["campaign"] for c in memory["campaigns"]] == ["spring-promo"]
    assert set(memory["spring"]) == {"sms", "email"}
    statuses = {s["status"]: s["total"] for s in memory["mix"]["by_organisation_status"]}
    assert statuses["client"] >= 1 and statuses["none"] >= 90  # the synthetic people hold no function
    assert memory["mix"]["by_function_title"][0]["label"]
