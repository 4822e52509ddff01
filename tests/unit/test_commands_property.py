"""Any sequence of valid commands: the projected view equals what the aggregates hold, whatever the
batching and the interleaving of the domain and interactions topics."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.kafka import Position
from channels.memory import MemoryDeadLetters
from domain.errors import DomainError
from projections.memory_store import MemoryStore
from projections.projector import Projector
from schemas.envelope import WireRecord, to_binary
from schemas.events import DOMAIN, SmsInteraction, stream_of
from services.application.crossview import Crossview
from services.application.relay import MemoryRelayPositions, Relay
from services.demo.data import event


def TEXT(**size):  # noqa: N802 - reads as the strategy it is
    """Text the edge accepts: no NUL and no lone surrogate (PostgreSQL text holds neither, so the
    HTTP edge refuses them and the projector dead-letters them from anywhere else)."""
    return st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), **size)


TITLES = ["MD", "TREASURER", "CIO"]

command = st.one_of(
    st.tuples(
        st.just("assign"),
        st.integers(0, 2),
        st.sampled_from(TITLES),
        st.integers(2000, 2030),
        st.one_of(st.none(), st.integers(0, 20)),
    ),
    st.tuples(st.just("end"), st.integers(0, 7), st.integers(2000, 2040)),
    st.tuples(st.just("reorder"), st.integers(1, 7)),
    st.tuples(st.just("attribute"), st.sampled_from(["mobile_phone", "email"]), TEXT(max_size=5), st.integers(0, 7)),
    st.tuples(st.just("sms"), st.integers(0, 7)),
    st.tuples(st.just("rename"), TEXT(min_size=1, max_size=5), TEXT(min_size=1, max_size=5)),
    st.tuples(st.just("join or separate")),
)


def run(commands, app: Crossview, person, organisations, other) -> list:
    interactions, functions = [], []
    for step, cmd in enumerate(commands):
        try:
            if cmd[0] == "assign":
                _, org, title, year, years = cmd
                entered = date(year, 1, 1)
                exits = None if years is None else date(year + years, 12, 31)
                functions.append(app.assign_function(person, organisations[org], title, entered, exits))
            elif cmd[0] == "end" and functions:
                app.end_function(person, functions[cmd[1] % len(functions)], date(cmd[2], 6, 30))
            elif cmd[0] == "reorder" and functions:
                order = app.repository.get(person).priority[:]
                order = order[cmd[1] % len(order) :] + order[: cmd[1] % len(order)]  # a drag and drop
                app.reprioritise_functions(person, order)
            elif cmd[0] == "attribute":
                on_function = cmd[1] == "email"
                if on_function and not functions:
                    continue
                app.set_attribute(person, cmd[1], cmd[2], functions[cmd[3] % len(functions)] if on_function else None)
            elif cmd[0] == "rename":
                app.rename_person(person, cmd[1], cmd[2])
            elif cmd[0] == "join or separate":
                if app.repository.get(other).merged_into is None:
                    app.join_people(person, other)
                else:
                    app.separate_people(person, other)
            elif cmd[0] == "sms":
                fid = functions[cmd[1] % len(functions)] if functions and cmd[1] % 2 else None
                interactions.append(
                    event(
                        str(person),
                        SmsInteraction(
                            direction="inbound",
                            provider="twilio",
                            provider_id=f"SM{step}",
                            status="received",
                            from_number="+33612345678",
                            to_number="+33140000000",
                            function_id=fid,
                        ),
                        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=step),
                        f"{person}:sms:{step}",
                    )
                )
        except DomainError:
            pass  # refused commands store nothing: the property is about what was accepted
    return interactions


@settings(max_examples=60, deadline=None)
@given(commands=st.lists(command, max_size=25), seed=st.integers(0, 10**6), batch=st.integers(1, 12))
def test_the_projection_of_any_command_sequence_equals_the_aggregates_state(commands, seed, batch):
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for title in TITLES:
        app.define_title(title, title.title())
    organisations = [app.register_organisation(f"Org {i}", "company", "client") for i in range(3)]
    person = app.register_person("Fabien", "Bellemare")
    other = app.resolve_contact_point("phone", "+33699999999").person_id  # an unknown caller
    interactions = run(commands, app, person, organisations, other)

    relayed = []
    Relay(
        app, lambda events: relayed.extend(events) or [Position("t", 0, 0)] * len(events), MemoryRelayPositions()
    ).relay_once()
    records = _arrivals(relayed, interactions, random.Random(seed))
    store = MemoryStore()
    projector = Projector(store, MemoryDeadLetters())
    projector.assign({(r.topic, r.partition) for r in records})
    for start in range(0, len(records), batch):
        projector.process(records[start : start + batch])

    person_now = app.repository.get(person)
    view = store.person(str(person))
    assert list(view.priority) == person_now.priority
    assert {f: (v.organisation_id, v.title_code, v.entered_on, v.exits_on) for f, v in view.functions.items()} == {
        f: (v.organisation_id, v.title_code, v.entered_on, v.exits_on) for f, v in person_now.functions.items()
    }
    assert dict(view.attributes) == person_now.attributes
    assert {f: dict(a) for f, a in view.function_attributes.items()} == person_now.function_attributes
    assert view.interactions.get("sms", 0) == len(interactions)
    assert (view.given_name, view.family_name, view.provisional) == (
        person_now.given_name,
        person_now.family_name,
        person_now.provisional,
    )
    other_now, other_view = app.repository.get(other), store.person(str(other))
    assert list(view.absorbed) == person_now.absorbed
    assert other_view.merged_into == other_now.merged_into
    assert {c.split(":", 1)[1] for c in view.contact_points} == {a for _, a in person_now.contact_points}
    assert {c.split(":", 1)[1] for c in other_view.contact_points} == {a for _, a in other_now.contact_points}


def _arrivals(domain_events, interactions, rng: random.Random) -> list[WireRecord]:
    """Domain events in their order on one partition, interactions on another, merged at random."""
    domain = [_record(e, "domain", i) for i, e in enumerate(e for e in domain_events if stream_of(e.type) == DOMAIN)]
    other = [_record(e, "interactions", i) for i, e in enumerate(interactions)]
    merged = []
    while domain or other:
        merged.append((domain if domain and (not other or rng.random() < 0.5) else other).pop(0))
    return merged


def _record(event, topic: str, offset: int) -> WireRecord:
    key, value, headers = to_binary(event)
    return WireRecord(topic, 0, offset, key, value, tuple(headers))
