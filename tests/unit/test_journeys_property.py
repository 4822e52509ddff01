"""Any sequence of offer commands and journey facts from any channel, retries included: the projected
view equals what the aggregates hold and what the facts say, whatever the batching and the
interleaving of the domain and interactions topics."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.kafka import Position
from channels.memory import MemoryDeadLetters
from domain.errors import DomainError
from domain.offers import Offer, offer_answer_id
from projections.directory import References
from projections.engagement import engagement, engagement_inputs
from projections.memory_store import MemoryStore
from projections.person_document import engagement_json
from projections.projector import Projector
from schemas.engagement_api import EngagementOut
from schemas.events import SmsInteraction, WebInteraction
from services.application import offers
from services.application.crossview import Crossview
from services.application.journeys import journey_facts
from services.application.relay import MemoryRelayPositions, Relay
from services.demo.data import event
from tests.unit.test_commands_property import _arrivals

CODES = ["KIT", "SPRING20", "PACK"]
JOURNEYS = ["CHK-1", "Q-2"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=2)

command = st.one_of(
    st.tuples(st.just("define"), st.sampled_from(CODES), st.booleans()),
    st.tuples(st.just("withdraw"), st.sampled_from(CODES)),
    st.tuples(st.just("answer"), st.sampled_from(CODES), st.sampled_from(["accepted", "declined"])),
    st.tuples(st.just("step"), st.sampled_from(JOURNEYS), st.one_of(st.none(), st.integers(1, 4)), st.integers(0, 600)),
    st.tuples(st.just("end"), st.sampled_from(JOURNEYS), st.sampled_from(["Journey Completed", "Journey Abandoned"]), st.integers(0, 600)),
    st.tuples(st.just("reply"), st.sampled_from(JOURNEYS), st.sampled_from(["OK", "NON"]), st.integers(0, 600)),
    st.tuples(st.just("promo"), st.integers(0, 600)),
)  # fmt: skip


def run(commands, app: Crossview, person, retries: random.Random) -> tuple[list, list]:
    """Runs the commands; returns the channel events sent (retries repeat one) and the journey facts."""
    sent, facts = [], []
    for n, cmd in enumerate(commands):
        try:
            if cmd[0] == "define":
                offers.define_offer(app, Offer(cmd[1], cmd[1].title(), campaign="spring" if cmd[2] else None))
            elif cmd[0] == "withdraw":
                offers.withdraw_offer(app, cmd[1])
            elif cmd[0] == "answer":
                offers.answer_offer(app, person, cmd[1], cmd[2], "call", NOW.date())
        except DomainError:
            continue
        data = _channel_event(cmd, n)
        if data is None:
            continue
        carrier = event(str(person), data, T0 + timedelta(minutes=cmd[-1]), f"{person}:{n}")
        derived = journey_facts(carrier, data)
        facts += derived
        sent += [carrier, *derived] * (2 if retries.random() < 0.3 else 1)  # a provider's retry: the same ids
    return sent, facts


def _channel_event(cmd, n: int):
    if cmd[0] == "step":
        properties = {"journey_id": cmd[1], "journey_type": "purchase", "step_count": 4}
        return _track("Journey Step Reached", {**properties, **({"step": cmd[2]} if cmd[2] else {})}, n)
    if cmd[0] == "end":
        return _track(cmd[2], {"journey_id": cmd[1]}, n)
    if cmd[0] in ("reply", "promo"):
        return SmsInteraction(
            direction="inbound" if cmd[0] == "reply" else "outbound",
            provider="twilio",
            provider_id=f"SM{n}",
            status="received" if cmd[0] == "reply" else "delivered",
            from_number="+33612345678",
            to_number="+33140000000",
            body=f"{cmd[1]} {cmd[2]}" if cmd[0] == "reply" else "SPRING20",
            campaign="spring" if cmd[0] == "promo" else None,
        )
    return None


def _track(name: str, properties: dict, n: int) -> WebInteraction:
    return WebInteraction(
        direction="inbound",
        provider="segment",
        provider_id=f"m{n}",
        status="received",
        action="track",
        name=name,
        properties=properties,
    )


def expected_journeys(facts) -> dict[str, tuple[str, int | None]]:
    """(state, step) of each journey straight from its facts: the latest by time and id decides."""
    by_journey: dict[str, list] = {}
    for fact in {f.id: f for f in facts}.values():
        by_journey.setdefault(fact.data["journey_id"].casefold(), []).append(fact)
    expected = {}
    for key, mine in by_journey.items():
        numbered = [f.data["step"] for f in mine if f.data.get("step")]
        if not numbered and not any(f.data.get("journey_type") for f in mine):
            continue  # replies alone: not shown
        last = max(mine, key=lambda f: (f.time, f.id))
        if last.type.endswith("completed.v1"):
            expected[key] = (
                "completed",
                4 if any(f.data.get("step_count") for f in mine) else max(numbered, default=None),
            )
        elif last.type.endswith("abandoned.v1"):
            expected[key] = ("abandoned", max(numbered, default=None))
        else:
            expected[key] = ("open", last.data.get("step") or min(max(numbered, default=0) + 1, 4))
    return expected


@settings(max_examples=60, deadline=None)
@given(commands=st.lists(command, max_size=25), seed=st.integers(0, 10**6), batch=st.integers(1, 12))
def test_any_offer_commands_and_journey_facts_project_to_what_the_aggregates_and_facts_hold(commands, seed, batch):
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    person = app.register_person("Fabien", "Bellemare")
    rng = random.Random(seed)
    sent, facts = run(commands, app, person, rng)

    relayed = []
    Relay(
        app, lambda events: relayed.extend(events) or [Position("t", 0, 0)] * len(events), MemoryRelayPositions()
    ).relay_once()
    records = _arrivals(relayed, sent, rng)
    store = MemoryStore()
    projector = Projector(store, MemoryDeadLetters())
    projector.assign({(r.topic, r.partition) for r in records})
    for start in range(0, len(records), batch):
        projector.process(records[start : start + batch])

    catalogue = offers.catalogue(app)
    assert {code: (o["label"], o["withdrawn"]) for code, o in store.offer_catalogue().items()} == {
        code: (terms["label"], code in catalogue.withdrawn) for code, terms in catalogue.offers.items()
    }
    answers = {}
    for code in CODES:
        try:
            answers[code] = app.repository.get(offer_answer_id(person, code)).answer
        except Exception:  # noqa: BLE001 - not answered
            continue
    view = store.person(str(person)) if sent or answers else None
    assert {c: a["answer"] for c, a in (view.offer_answers if view else {}).items()} == answers
    if view is None:
        return
    shown = engagement(
        engagement_inputs(view, References(), NOW.date()), store.offer_catalogue(), NOW, timedelta(minutes=30)
    )
    assert {j["journey_id"].casefold(): (j["state"], j["step"]) for j in shown["journeys"]} == expected_journeys(facts)
    assert engagement_json(shown) == EngagementOut(**shown).model_dump_json()  # the ready document's way
    promos = [e for e in sent if e.data.get("campaign") == "spring"]
    holds = {o["code"] for o in shown["offers"]}
    held_by_rule = {
        code
        for code, terms in catalogue.offers.items()
        if promos and terms["campaign"] == "spring" and code not in catalogue.withdrawn and code not in answers
    }
    assert holds == held_by_rule
    assert view.events_applied == len({e.id for e in sent}) + sum(1 for e in relayed if e.subject == str(person))
