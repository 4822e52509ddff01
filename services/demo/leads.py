"""The demo's sales pipeline: Fabien's and his colleague's leads at every stage, one of them a
referral credited to the prescriber Croissance+, made through the real commands."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from schemas.envelope import CloudEvent
from schemas.lead_events import LeadConverted, LeadCreated, LeadLost, LeadQualified, LeadRouted
from services.application.crossview import Crossview

SALES_MANAGER = "demo-sales-manager"


def seed_leads(
    app: Crossview,
    fabien: uuid.UUID,
    colleague: uuid.UUID,
    organisations: dict[str, uuid.UUID],
    functions: dict[str, str],
    demo_id: Callable[[str], uuid.UUID],
) -> dict[str, uuid.UUID]:
    """Four leads: a referral by Croissance+ for Social Networks (large, with the key-account
    manager), a web quote request still new, a campaign reply converted, and Claire's lost one.
    Their ids derive from names (``demo_id``), the same at every start."""
    referral = app.create_lead(
        fabien, "fleet-insurance", "referral", SALES_MANAGER, function_id=functions["social-networks"],
        prescriber_id=organisations["croissance-plus"], employees=320, lead_id=demo_id("lead:fleet-insurance"),
    )  # fmt: skip
    app.qualify_lead(fabien, referral, SALES_MANAGER)
    app.route_lead(fabien, referral, SALES_MANAGER)

    web = app.create_lead(
        fabien,
        "garden-maintenance-contract",
        "web",
        "segment",
        function_id=functions["fabulous-garden"],
        budget=12_000,
        lead_id=demo_id("lead:garden-maintenance"),
    )

    reply = app.create_lead(
        fabien, "irrigation-kit", "campaign", SALES_MANAGER, function_id=functions["fabulous-garden"],
        campaign="spring-promo", budget=900, lead_id=demo_id("lead:irrigation-kit"),
    )  # fmt: skip
    app.qualify_lead(fabien, reply, SALES_MANAGER)
    app.route_lead(fabien, reply, SALES_MANAGER)
    app.convert_lead(fabien, reply, SALES_MANAGER)

    lost = app.create_lead(
        colleague, "payroll-outsourcing", "call", SALES_MANAGER, organisation_id=organisations["fabulous-garden"],
        employees=85, lead_id=demo_id("lead:payroll-outsourcing"),
    )  # fmt: skip
    app.qualify_lead(colleague, lost, SALES_MANAGER)
    app.route_lead(colleague, lost, SALES_MANAGER)
    app.lose_lead(colleague, lost, "Chose to keep payroll in house this year", SALES_MANAGER)
    return {"referral": referral, "web": web, "reply": reply, "lost": lost}


def synthetic_leads(people: Iterable[str], per_person: int, at: datetime) -> Iterator[CloudEvent]:
    """``per_person`` leads for each person, as the relay would publish them, each one stage
    further than the one before (new, qualified, routed, then converted or lost in turn): what the
    tests and benchmarks give people a pipeline with. The same arguments give the same events."""
    from services.demo.data import event  # here: services/demo/data.py imports this module

    n = 0
    for person in people:
        for _ in range(per_person):
            lead, when, won = f"synthetic-lead-{person}-{n}", at + timedelta(minutes=n), n // 4 % 2 == 1
            closing = (
                LeadConverted(lead_id=lead, at=when, by="bench")
                if won
                else LeadLost(lead_id=lead, reason="price", at=when, by="bench")
            )
            steps = [
                LeadCreated(lead_id=lead, product="fleet", source=("web", "call", "referral")[n % 3],
                            created_at=when, created_by="bench", employees=n % 400),
                LeadQualified(lead_id=lead, size=("small", "medium", "large")[n % 3], rule="synthetic", at=when,
                              by="bench"),
                LeadRouted(lead_id=lead, channel="advisor", owner=("amelie", "bruno")[n % 2], at=when, by="bench"),
                closing,
            ][: 1 + n % 4]  # fmt: skip
            yield from (event(person, data, when, f"{lead}:{i}") for i, data in enumerate(steps))
            n += 1
