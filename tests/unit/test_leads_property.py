"""Any sequence of lead commands (created from every source, qualified by the rules or against
them, routed by the rules or by hand, converted, lost, rules changed, people joined and separated),
mixed with interactions: the projected leads and the pipeline equal what the aggregates hold,
whatever the batching and the interleaving of the domain and interactions topics."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.kafka import Position
from channels.memory import MemoryDeadLetters
from domain.errors import DomainError
from domain.lead import DEFAULT_RULES, SALES_CHANNELS, SIZES
from projections.leads import pipeline_rows
from projections.memory_store import MemoryStore
from projections.projector import Projector
from schemas.events import SmsInteraction
from services.application.crossview import Crossview
from services.application.relay import MemoryRelayPositions, Relay
from services.demo.data import event
from tests.unit.test_commands_property import TEXT, _arrivals

PRODUCTS = ["fleet", "payroll", "garden-care"]
SOURCES = ["web", "call", "campaign", "referral"]

CREATE = st.tuples(
    st.just("create"), st.sampled_from(PRODUCTS), st.sampled_from(SOURCES), st.booleans(),
    st.one_of(st.none(), st.integers(0, 400)), st.one_of(st.none(), st.integers(0, 200_000)),
)  # fmt: skip
QUALIFY = st.tuples(
    st.just("qualify"), st.integers(0, 2), st.one_of(st.none(), st.sampled_from(SIZES)), TEXT(max_size=6)
)
ROUTE = st.tuples(
    st.just("route"), st.integers(0, 2), st.one_of(st.none(), st.sampled_from(SALES_CHANNELS)),
    st.one_of(st.none(), st.sampled_from(["amelie", "bruno"])),
)  # fmt: skip
ADVANCE = st.tuples(st.just("advance"), st.integers(0, 2))  # one stage further, by the rules
command = st.one_of(
    ADVANCE,
    ADVANCE,
    ADVANCE,  # most often: leads get to every stage
    CREATE,
    QUALIFY,
    QUALIFY,  # qualifying and routing twice as likely as the others: leads get far along their stages
    ROUTE,
    ROUTE,
    st.tuples(st.just("convert"), st.integers(0, 2)),
    st.tuples(st.just("lose"), st.integers(0, 2), TEXT(min_size=1, max_size=6)),
    st.tuples(st.just("rules"), st.integers(1, 300), st.sampled_from(PRODUCTS), st.sampled_from(["claire", "dan"])),
    st.tuples(st.just("join or separate")),
    st.tuples(st.just("sms")),
)


def run(commands, app: Crossview, person, other, organisations) -> tuple[list[uuid.UUID], list]:
    leads, interactions = [], []
    for step, cmd in enumerate(commands):
        try:
            if cmd[0] == "create":
                _, product, source, for_other, employees, budget = cmd
                leads.append(
                    app.create_lead(
                        other if for_other else person,
                        product,
                        source,
                        "alice",
                        organisation_id=organisations["Social Networks"],
                        prescriber_id=organisations["Croissance+"] if source == "referral" else None,
                        campaign="spring" if source == "campaign" else None,
                        employees=employees,
                        budget=budget,
                    )
                )
            elif cmd[0] == "advance" and leads:
                lead = app.repository.get(leads[-1 - cmd[1] % len(leads)])
                owner = uuid.UUID(lead.person_id)
                step = {"new": app.qualify_lead, "qualified": app.route_lead}.get(lead.stage, app.convert_lead)
                step(owner, lead.id, "alice")
            elif cmd[0] in ("qualify", "route", "convert", "lose") and leads:
                lead = app.repository.get(leads[-1 - cmd[1] % len(leads)])  # mostly the latest: it moves on
                owner = uuid.UUID(lead.person_id)
                if cmd[0] == "qualify":
                    app.qualify_lead(owner, lead.id, "alice", cmd[2], cmd[3] or None)
                elif cmd[0] == "route":
                    app.route_lead(owner, lead.id, "alice", cmd[2], cmd[3])
                elif cmd[0] == "convert":
                    app.convert_lead(owner, lead.id, "alice")
                else:
                    app.lose_lead(owner, lead.id, cmd[2], "alice")
            elif cmd[0] == "rules":
                _, employees, product, owner = cmd
                sizes = {
                    **DEFAULT_RULES["sizes"],
                    "medium": {"employees": employees, "budget": None, "products": [product]},
                }
                routes = {**DEFAULT_RULES["routes"], "medium": {"channel": "advisor", "owner": owner}}
                app.set_lead_rules(sizes, routes)
            elif cmd[0] == "join or separate":
                if app.repository.get(other).merged_into is None:
                    app.join_people(person, other)
                else:
                    app.separate_people(person, other)
            elif cmd[0] == "sms":
                sms = SmsInteraction(
                    direction="inbound", provider="twilio", provider_id=f"SM{step}", status="received",
                    from_number="+33612345678", to_number="+33140000000",
                )  # fmt: skip
                at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=step)
                interactions.append(event(str(person), sms, at, f"sms:{step}"))
        except DomainError:
            pass  # refused commands store nothing: the property is about what was accepted
    return leads, interactions


@settings(max_examples=80, deadline=None)
@given(
    creations=st.lists(CREATE, min_size=1, max_size=3),
    commands=st.lists(command, min_size=3, max_size=30),
    seed=st.integers(0, 10**6),
    batch=st.integers(1, 12),
)
def test_the_projected_leads_of_any_command_sequence_equal_the_aggregates(creations, commands, seed, batch):
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    organisations = {
        name: app.register_organisation(name, kind, relationship)
        for name, kind, relationship in [
            ("Social Networks", "company", "prospect"),
            ("Croissance+", "association", "prescriber"),
        ]
    }
    app.define_title("BOARD_MEMBER", "Board member")
    person = app.register_person("Fabien", "Bellemare")
    app.assign_function(person, organisations["Social Networks"], "BOARD_MEMBER", date(2023, 6, 1))
    other = app.resolve_contact_point("email", "fabien@social-networks.example").person_id
    leads, interactions = run(creations + commands, app, person, other, organisations)

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

    views = {p: store.person(str(p)) for p in (person, other)}
    held = {lead: p for p, view in views.items() if view for lead in view.leads}
    assert sorted(held) == sorted(str(lead) for lead in leads)  # each lead in exactly one view
    aggregates = {str(lead): app.repository.get(lead) for lead in leads}
    for lead_id, lead in aggregates.items():
        assert str(held[lead_id]) == lead.person_id  # the person it was created for (or joined into)
        projected = views[held[lead_id]].leads[lead_id]
        assert (projected["stage"], projected["size"], projected["channel"], projected["owner"]) == (
            lead.stage,
            lead.size,
            lead.channel,
            lead.owner,
        )
        assert (projected["source"], projected["prescriber_id"]) == (lead.source, lead.prescriber_id)
    expected = [
        {"stage": lead.stage, "owner": lead.owner, "source": lead.source, "prescriber_id": lead.prescriber_id}
        for lead in aggregates.values()
    ]
    assert store.lead_pipeline() == pipeline_rows(expected)
    won = any(lead.stage == "converted" for lead in aggregates.values())
    relationship = store.organisation(str(organisations["Social Networks"]))["relationship"]
    assert relationship == ("client" if won else "prospect")
