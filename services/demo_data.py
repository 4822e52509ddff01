"""Demo and synthetic data: the seed's scenario (Fabien Bellemare) and N synthetic people."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from schemas.envelope import CloudEvent
from schemas.events import (
    CallInteraction,
    EmailInteraction,
    EventData,
    FunctionAssigned,
    FunctionEnded,
    OrganisationRegistered,
    PersonRegistered,
    SmsInteraction,
    WebInteraction,
)

DEMO_NAMESPACE = uuid.UUID("6f1c7d4e-8a55-4b0e-9a43-1c2f0e7d5b10")
FABIEN = str(uuid.uuid5(DEMO_NAMESPACE, "person:fabien.bellemare"))


def event(subject: str, data: EventData, at: datetime, key: str, source: str = "crossview/demo") -> CloudEvent:
    """A CloudEvent whose id is derived from ``key``, so generating twice yields the same ids."""
    return CloudEvent(
        id=str(uuid.uuid5(DEMO_NAMESPACE, key)),
        source=source,
        type=data.event_type,
        subject=subject,
        time=at,
        data=data.model_dump(mode="json", exclude_none=True),
    )


def seed_scenario(now: datetime | None = None) -> list[CloudEvent]:
    """Fabien Bellemare, his functions at four organisations, and interactions on every channel."""
    now = now or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    orgs = {
        "fabulous-garden": ("Fabulous Garden", "company", "client"),
        "social-networks": ("Social Networks", "company", "prospect"),
        "croissance-plus": ("Croissance+", "association", "prescriber"),
        "delta-telecom": ("Delta Telecom", "company", "client"),
    }
    events = []
    t = now - timedelta(days=400)
    for slug, (name, kind, relationship) in orgs.items():
        org_id = str(uuid.uuid5(DEMO_NAMESPACE, f"organisation:{slug}"))
        events.append(
            event(
                org_id,
                OrganisationRegistered(name=name, kind=kind, relationship=relationship),
                t,
                f"organisation-registered:{slug}",
            )
        )
    events.append(event(FABIEN, PersonRegistered(given_name="Fabien", family_name="Bellemare"), t, "fabien:registered"))
    functions = [
        ("delta-telecom", "FINANCE_DIRECTOR", date(2015, 3, 1)),
        ("fabulous-garden", "MANAGING_DIRECTOR", date(2021, 1, 4)),
        ("social-networks", "BOARD_MEMBER", date(2023, 6, 1)),
        ("croissance-plus", "TREASURER", date(2024, 9, 15)),
    ]
    for i, (slug, title, entered) in enumerate(functions):
        events.append(
            event(
                FABIEN,
                FunctionAssigned(
                    function_id=f"fn-{slug}",
                    organisation_id=str(uuid.uuid5(DEMO_NAMESPACE, f"organisation:{slug}")),
                    title_code=title,
                    entered_on=entered,
                ),
                t + timedelta(minutes=i + 1),
                f"fabien:function:{slug}",
            )
        )
    events.append(
        event(
            FABIEN,
            FunctionEnded(function_id="fn-delta-telecom", exited_on=date(2020, 12, 31)),
            t + timedelta(minutes=10),
            "fabien:function-ended:delta-telecom",
        )
    )
    mobile, office = "+33612345678", "+33140000000"
    interactions = [
        SmsInteraction(
            direction="outbound",
            provider="twilio",
            provider_id="SM-demo-1",
            status="delivered",
            from_number=office,
            to_number=mobile,
            body="Spring promotion: -20% on garden furniture",
            campaign="spring-promo",
        ),
        EmailInteraction(
            direction="outbound",
            provider="sendgrid",
            provider_id="sg-demo-1",
            status="opened",
            address="fabien@fabulous-garden.example",
            subject_line="Your spring offer",
            campaign="spring-promo",
            function_id="fn-fabulous-garden",
        ),
        WebInteraction(
            direction="inbound",
            provider="segment",
            provider_id="seg-demo-1",
            status="received",
            action="page",
            name="Checkout – step 2 of 3",
            url="https://shop.example/checkout/2",
        ),
        CallInteraction(
            direction="inbound",
            provider="twilio",
            provider_id="CA-demo-1",
            status="completed",
            from_number=mobile,
            to_number=office,
            duration_seconds=312,
            outcome="answered",
            notes="Asked about delivery times; suggested the irrigation add-on.",
        ),
    ]
    for i, data in enumerate(interactions):
        events.append(event(FABIEN, data, now + timedelta(minutes=5 * i), f"fabien:interaction:{i}"))
    return events


def synthetic_interactions(
    people: int, per_person: int, seed: int = 7, start: datetime | None = None, body_bytes: int = 0
) -> Iterator[CloudEvent]:
    """``people * per_person`` interactions, each person's in increasing time, interleaved across people."""
    rng = random.Random(seed)
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    person_ids = [str(uuid.uuid5(DEMO_NAMESPACE, f"synthetic:{seed}:{n}")) for n in range(people)]
    filler = "x" * body_bytes
    for step in range(per_person):
        for n, person_id in enumerate(person_ids):
            at = start + timedelta(seconds=step * 60 + n % 60)
            key = f"synthetic:{seed}:{n}:{step}"
            kind = rng.randrange(4)
            phone = f"+3361{n:07d}"
            if kind == 0:
                data = SmsInteraction(
                    direction="inbound",
                    provider="twilio",
                    provider_id=key,
                    status="received",
                    from_number=phone,
                    to_number="+33140000000",
                    body=filler or "Hello",
                )
            elif kind == 1:
                data = EmailInteraction(
                    direction="outbound",
                    provider="sendgrid",
                    provider_id=key,
                    status="delivered",
                    address=f"person{n}@example.org",
                    subject_line=filler or "Newsletter",
                )
            elif kind == 2:
                data = WebInteraction(
                    direction="inbound",
                    provider="segment",
                    provider_id=key,
                    status="received",
                    action="page",
                    name="Home",
                    url="https://shop.example/" + filler,
                )
            else:
                data = CallInteraction(
                    direction="inbound",
                    provider="asterisk",
                    provider_id=key,
                    status="completed",
                    from_number=phone,
                    to_number="+33140000000",
                    duration_seconds=rng.randrange(600),
                    notes=filler or None,
                )
            yield event(person_id, data, at, key, source="crossview/synthetic")
