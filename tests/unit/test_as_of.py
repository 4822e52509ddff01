"""Time travel is the pure fold of the events up to the cut, whatever the batching, the interleaving
of the topics, the checkpoints and the duplicates (projections/as_of.py)."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.memory import MemoryDeadLetters, MemoryLog
from projections.as_of import Cut, fact_of_entry, view_as_of
from projections.memory_store import MemoryStore
from projections.person_codec import view_to_json
from projections.person_view import fold
from projections.projector import Projector
from schemas.events import DOMAIN, InvalidEventData, PersonErased, stream_of
from services.demo.data import event, seed_scenario, synthetic_interactions
from services.settings import Settings
from tests.conftest import facts_of

SCENARIO, IDS = seed_scenario()
EVENTS = SCENARIO + list(synthetic_interactions(people=3, per_person=12))
START = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = Settings()


def retimed(rng: random.Random) -> list:
    """The events with times drawn at random over ten days (the fold must not care when things happen)."""
    return [e.model_copy(update={"time": START + timedelta(minutes=rng.randrange(14_400))}) for e in EVENTS]


def projected(events: list, rng: random.Random, checkpoint_every: int) -> MemoryStore:
    """The events through the real projector in random batches, the topics interleaved at random,
    some events sent twice (a producer's retry), checkpoints kept every few events."""
    log = MemoryLog(SETTINGS.partitions)
    store = MemoryStore()
    projector = Projector(store, MemoryDeadLetters(), checkpoint_every=checkpoint_every)
    projector.assign([p for topic in SETTINGS.event_topics for p in log.partitions_of(topic)])
    resent = [e for e in events if rng.random() < 0.1]
    for topic in SETTINGS.event_topics:
        log.publish(topic, [e for e in events + resent if SETTINGS.topic(stream_of(e.type)) == topic])
    pending = {topic: list(log.records(topic)) for topic in SETTINGS.event_topics}
    while any(pending.values()):
        topic = rng.choice([t for t, records in pending.items() if records])
        size = rng.randrange(1, 12)
        projector.process(pending[topic][:size])
        pending[topic] = pending[topic][size:]
    return store


def expected(events: list, until: datetime) -> dict:
    """The pure fold of the events up to ``until``, in the order they were published."""
    kept = [e for e in events if e.time <= until]
    return {pid: view_to_json(view) for pid, view in fold(facts_of(kept)).items()}


def at(store: MemoryStore, person_id: str, cut: Cut):
    """The person's view at the cut, as the queries make it: the best checkpoint and the rest folded."""
    checkpoint, entries = store.events_as_of(person_id, cut)
    return view_as_of(person_id, entries, cut, checkpoint)


def travelled(store: MemoryStore, people: set[str], cut: Cut) -> dict:
    views = {pid: at(store, pid, cut) for pid in people}
    return {pid: view_to_json(view) for pid, view in views.items() if view is not None}


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    checkpoint_every=st.integers(1, 9),
    instants=st.lists(st.integers(-10, 14_410), min_size=1, max_size=5),
)
def test_the_view_as_of_an_instant_is_the_pure_fold_of_the_events_up_to_it(seed, checkpoint_every, instants):
    rng = random.Random(seed)
    events = retimed(rng)
    # The domain topic keeps its order (one aggregate's events, one partition); the fold's reference.
    events = [e for e in events if stream_of(e.type) == DOMAIN] + [e for e in events if stream_of(e.type) != DOMAIN]
    store = projected(events, rng, checkpoint_every)
    people = {e.subject for e in events}
    for minutes in instants:
        until = START + timedelta(minutes=minutes)
        assert travelled(store, people, Cut(until)) == expected(events, until)
    # The live view is the view as of now, and as of the read model's position.
    now = datetime.now(UTC)
    live = {pid: view_to_json(view) for pid in people if (view := store.person(pid)) is not None}
    assert travelled(store, people, Cut(now)) == live
    assert travelled(store, people, Cut(None, store.position())) == live


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), checkpoint_every=st.integers(1, 9), share=st.floats(0, 1))
def test_the_view_at_a_position_is_the_fold_of_the_events_before_it(seed, checkpoint_every, share):
    rng = random.Random(seed)
    events = retimed(rng)
    store = projected(events, rng, checkpoint_every)
    position = {where: int(offset * share) for where, offset in store.position().items()}
    cut = Cut(None, position)
    for pid in {e.subject for e in events}:
        everything = sorted(
            (e for e in store._by_person.get(pid, ()) if cut.keeps_entry(e)),
            key=lambda e: (e.topic, e.partition, e.offset),
        )
        want = fold(fact_of_entry(e) for e in everything).get(pid)
        got = at(store, pid, cut)
        assert (view_to_json(got) if got else None) == (view_to_json(want) if want else None)


def test_an_erasure_drops_the_persons_checkpoints_with_their_data():

    erased = event(IDS.fabien, PersonErased(erased_on=START.date()), START + timedelta(days=30), "erased")
    store = projected([*EVENTS, erased], random.Random(1), checkpoint_every=2)
    assert store._checkpoints.get(IDS.fabien, []) == [] and store._checkpoints  # others keep theirs
    with pytest.raises(InvalidEventData):  # their events' data is gone too: the queries answer 410
        at(store, IDS.fabien, Cut(None, store.position()))
