"""One contract, every store: the analysts' indicators come out the same from memory and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from channels.memory import MemoryDeadLetters
from projections.analytics import (
    campaign_days,
    campaign_list,
    first_reached,
    interaction_mix,
    last_active,
    reach_counts,
)
from projections.as_of import Cut, fact_of_entry
from projections.memory_store import MemoryStore
from projections.projector import Projector
from projections.reference_view import fold_references
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
    events, spring = store.campaign_events(None), store.campaign_events("spring-promo")
    counts = store.function_interaction_counts()
    references = store.reference_data({o for _, o, _, _ in counts if o})
    return {
        "campaigns": campaign_list(first_reached(events), last_active(events)),
        "spring": campaign_days(first_reached(spring), "spring-promo", last_active(spring)),
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


def figures_at(store, cut: Cut) -> dict:
    """The figures as the log stood at the cut (what the routes answer with as_of or at_position)."""
    events, spring = store.campaign_events(None, cut), store.campaign_events("spring-promo", cut)
    reach = first_reached(events)
    counts = store.function_interaction_counts(cut)
    titles = store.reference_data(()).titles
    organisations = {}
    for organisation_id in {o for _, o, _, _ in counts if o}:
        _, entries = store.events_as_of(organisation_id, cut)
        facts = [fact_of_entry(e) for e in sorted(entries, key=lambda e: (e.topic, e.partition, e.offset))]
        organisations.update({key[1]: doc for key, doc in fold_references(facts, {}).items()})
    return {
        "campaigns": campaign_list(reach, last_active(events)),
        "spring": campaign_days(first_reached(spring), "spring-promo", last_active(spring)),
        "spring_counts": reach_counts(reach, "spring-promo"),
        "mix": interaction_mix(counts, organisations, titles),
    }


def test_the_figures_at_a_cut_are_alike_and_as_of_now_they_are_the_live_ones(store):
    memory, postgres = projected(MemoryStore()), projected(store)
    times = sorted(e.occurred_at for e in memory._entries.values() if e.channel is not None)
    half = {where: offset // 2 for where, offset in postgres.position().items()}
    cuts = [Cut(times[len(times) // 3]), Cut(times[0] - timedelta(seconds=1)), Cut(None, half)]
    for cut in cuts:
        assert figures_at(memory, cut) == figures_at(postgres, cut), cut
    middle = figures_at(postgres, cuts[0])
    assert sum(s["total"] for s in middle["mix"]["by_organisation_status"]) < len(
        {(e.person_id, e.message_key) for e in memory._entries.values() if e.channel is not None}
    )
    now = Cut(datetime.now(UTC))
    for live_store in (memory, postgres):
        live, at_now = figures(live_store), figures_at(live_store, now)
        assert {k: at_now[k] for k in live} == live
        assert at_now["spring_counts"] == live_store.campaign_counts("spring-promo")
