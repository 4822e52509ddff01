"""The demo's sales pipeline: Fabien's and his colleague's leads at every stage, one of them a
referral credited to the prescriber Croissance+, made through the real commands."""

from __future__ import annotations

import uuid
from collections.abc import Callable

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
