"""The Python client publishes validated interactions that the projector applies."""

from __future__ import annotations

import pytest

from channels.client import CrossviewClient, RefusedEvent
from channels.kafka import end_offsets
from services.demo.data import seed_scenario, synthetic_interactions
from tests.conftest import as_json, expected_views
from tests.live import ProjectorThread, caught_up, wait_until


def test_events_sent_with_the_client_reach_the_view(settings, store):
    events = list(synthetic_interactions(people=20, per_person=10, seed=41))
    with CrossviewClient(settings.kafka_bootstrap, settings.namespace) as client:
        for event in events[:100]:
            client.send(event)
        client.flush()
        positions = client.publish(events[100:])
    assert len(positions) == 100 and all(p.topic == settings.topic("interactions") for p in positions)
    with ProjectorThread(settings):
        wait_until(caught_up(store, settings), 60, "the projector")
    expected = expected_views(events)
    assert as_json({p: store.person(p) for p in expected}) == expected


def test_the_client_refuses_domain_events_and_invalid_data_before_sending(settings):
    domain_event = next(e for e in seed_scenario()[0] if e.type == "crossview.function.assigned.v1")
    good = next(iter(synthetic_interactions(people=1, per_person=1)))
    bad = good.model_copy(update={"data": {**good.data, "direction": "sideways"}})
    with CrossviewClient(settings.kafka_bootstrap, settings.namespace) as client:
        with pytest.raises(RefusedEvent, match="only the relay"):
            client.send(domain_event)
        with pytest.raises(RefusedEvent, match="direction"):
            client.publish([good, bad])  # all or nothing: the good one is not sent either
    assert sum(end_offsets(settings.kafka_bootstrap, [settings.topic("interactions")]).values()) == 0
