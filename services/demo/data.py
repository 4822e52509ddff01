"""Demo and synthetic data: the seed's scenario (Fabien Bellemare) and N synthetic people."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from channels.kafka import Position
from domain.offers import Offer
from schemas.envelope import CloudEvent
from schemas.events import (
    AttributeSet,
    CallInteraction,
    EmailInteraction,
    EventData,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    OrganisationRegistered,
    PersonRegistered,
    SmsInteraction,
    TitleDefined,
    WebInteraction,
)
from services.application import offers
from services.application.crossview import Crossview
from services.application.journeys import journey_facts
from services.demo.leads import seed_leads

DEMO_NAMESPACE = uuid.UUID("6f1c7d4e-8a55-4b0e-9a43-1c2f0e7d5b10")

TITLES = {
    "MANAGING_DIRECTOR": "Managing director",
    "BOARD_MEMBER": "Board member",
    "TREASURER": "Treasurer",
    "FINANCE_DIRECTOR": "Finance director",
    "CIO": "Chief information officer",
    "HEAD_OF_ASSOCIATION": "Head of association",
    "MAYOR": "Mayor",
    "SALES_DIRECTOR": "Sales director",
}


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


def demo_id(name: str) -> uuid.UUID:
    """The demo's id for ``name``: the same at every start."""
    return uuid.uuid5(DEMO_NAMESPACE, name)


@dataclass(frozen=True)
class DemoIds:
    fabien: str
    organisations: dict[str, str]  # slug -> id
    functions: dict[str, str]  # slug of the organisation -> Fabien's function id there


def seed_demo(app: Crossview, publish: Callable[[list[CloudEvent]], object]) -> DemoIds:
    """The seed's scenario through the real commands: Fabien Bellemare, managing director of Fabulous
    Garden (client), board member of Social Networks (prospect), treasurer of the association
    Croissance+ (prescriber), formerly finance director of Delta Telecom; and his interactions,
    given to ``publish`` as channel adapters would send them."""
    for code, label in TITLES.items():
        app.define_title(code, label)
    # Ids derived from names: a bookmark or a note taken during one demo still works after a restart.
    organisations = {
        slug: app.register_organisation(name, kind, relationship, demo_id(f"organisation:{slug}"))
        for slug, name, kind, relationship in [
            ("fabulous-garden", "Fabulous Garden", "company", "client"),
            ("social-networks", "Social Networks", "company", "prospect"),
            ("croissance-plus", "Croissance+", "association", "prescriber"),
            ("delta-telecom", "Delta Telecom", "company", "client"),
        ]
    }
    fabien = app.register_person("Fabien", "Bellemare", demo_id("person:fabien-bellemare"))
    functions = {
        slug: app.assign_function(
            fabien, organisations[slug], title, entered, function_id=str(demo_id(f"function:fabien:{slug}"))
        )
        for slug, title, entered in [
            ("delta-telecom", "FINANCE_DIRECTOR", date(2015, 3, 1)),
            ("fabulous-garden", "MANAGING_DIRECTOR", date(2021, 1, 4)),
            ("social-networks", "BOARD_MEMBER", date(2023, 6, 1)),
            ("croissance-plus", "TREASURER", date(2024, 9, 15)),
        ]
    }
    app.end_function(fabien, functions["delta-telecom"], date(2020, 12, 31))
    app.set_attribute(fabien, "mobile_phone", "+33612345678")
    app.set_attribute(fabien, "email", "fabien@fabulous-garden.example", functions["fabulous-garden"])
    app.set_attribute(fabien, "email", "tresorier@croissance-plus.example", functions["croissance-plus"])
    colleague = app.register_person("Claire", "Dubois", demo_id("person:claire-dubois"))
    app.assign_function(
        colleague,
        organisations["fabulous-garden"],
        "SALES_DIRECTOR",
        date(2022, 2, 1),
        function_id=str(demo_id("function:claire:fabulous-garden")),
    )
    define_demo_offers(app)
    seed_leads(app, fabien, colleague, organisations, functions, demo_id)
    publish(interactions_of(str(fabien), functions))
    # As treasurer, he complained by email (an Inbound Parse post would open it so): a double debit.
    app.open_from_email(
        fabien,
        functions["croissance-plus"],
        "sendgrid",
        "demo-treasurer-complaint@mail.croissance-plus.example",
        ("reclamation+complaint@support.crossview.example",),
        "Cotisation 2026 prélevée deux fois",
        "Bonjour, la cotisation 2026 de Croissance+ a été prélevée deux fois. Merci de rembourser le doublon.",
    )
    return DemoIds(str(fabien), {k: str(v) for k, v in organisations.items()}, functions)


def interactions_of(fabien: str, functions: dict[str, str], now: datetime | None = None) -> list[CloudEvent]:
    now = now or datetime.now(UTC)
    mobile, office = "+33612345678", "+33140000000"
    interactions = [
        SmsInteraction(
            direction="outbound",
            provider="twilio",
            provider_id="SM-demo-1",
            status="delivered",
            from_number=office,
            to_number=mobile,
            body="Spring promotion: -20% on garden furniture with the code SPRING20",
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
            function_id=functions["fabulous-garden"],
        ),
        checkout_step(1, "Basket"),
        WebInteraction(
            direction="inbound",
            provider="segment",
            provider_id="seg-demo-1",
            status="received",
            action="page",
            name="Checkout – step 2 of 3",
            url="https://shop.example/checkout/2",
        ),
        checkout_step(2, "Payment"),
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
    # In the past (the last one an hour ago), in the order an advisor would read the story: the SMS
    # promotion, its email, the web checkout left at step 2 of 3 a day ago (stalled), his call.
    first = now - timedelta(days=2, hours=1)
    steps = [timedelta(0), timedelta(hours=3)]
    steps += [timedelta(days=1, minutes=-10), timedelta(days=1), timedelta(days=1, seconds=5), timedelta(days=2)]
    events = [event(fabien, data, first + steps[i], f"{fabien}:interaction:{i}") for i, data in enumerate(interactions)]
    return events + [fact for e, data in zip(events, interactions, strict=True) for fact in journey_facts(e, data)]


CHECKOUT = "CHK-2041"  # Fabien's web checkout: a purchase journey of three steps


def checkout_step(step: int, name: str) -> WebInteraction:
    """A Segment ``track`` of the checkout as the shop's analytics.js sends it (the journey's
    documented event name and properties: services/application/journeys.py)."""
    return WebInteraction(
        direction="inbound",
        provider="segment",
        provider_id=f"seg-demo-checkout-{step}",
        status="received",
        action="track",
        name="Journey Step Reached",
        properties={
            "journey_id": CHECKOUT,
            "journey_type": "purchase",
            "step": step,
            "step_count": 3,
            "step_name": name,
        },
    )


def define_demo_offers(app: Crossview, today: date | None = None) -> None:
    """The catalogue of the story: the SMS promotion's offer, and complementary offers to suggest."""
    today = today or datetime.now(UTC).date()
    for offer in (
        Offer("SPRING20", "-20% on garden furniture", campaign="spring-promo", valid_until=today + timedelta(days=60)),
        Offer(
            "IRRIGATION-KIT",
            "Irrigation add-on, installed",
            suggested=True,
            reason="Completes a garden furniture purchase",
            relationships=("client",),
            journey_types=("purchase",),
        ),
        Offer(
            "ASSOCIATION-PACK",
            "Banking pack for associations",
            suggested=True,
            reason="For the treasurers of the associations we know",
            title_codes=("TREASURER",),
        ),
    ):
        offers.define_offer(app, offer)


def seed_scenario() -> tuple[list[CloudEvent], DemoIds]:
    """The scenario's events as the relay and the adapters would publish them (for projector tests)."""
    from services.application.relay import MemoryRelayPositions, Relay

    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    events: list[CloudEvent] = []

    def collect(batch: list[CloudEvent]) -> list[Position]:
        events.extend(batch)
        return [Position("memory", 0, len(events) - len(batch) + i) for i in range(len(batch))]

    ids = seed_demo(app, collect)
    relay = Relay(app, collect, MemoryRelayPositions())
    while relay.relay_once():
        pass
    return events, ids


def interaction_of(
    rng: random.Random, key: str, phone: str, address: str, filler: str = "", campaign: str | None = None
) -> SmsInteraction | EmailInteraction | WebInteraction | CallInteraction:
    """One synthetic interaction on a channel ``rng`` draws: an inbound SMS or call from ``phone``,
    a delivered email to ``address``, a page seen; ``filler`` pads their texts."""
    kind = rng.randrange(4)
    if kind == 0:
        return SmsInteraction(
            direction="inbound",
            provider="twilio",
            provider_id=key,
            status="received",
            from_number=phone,
            to_number="+33140000000",
            body=filler or "Hello",
        )
    if kind == 1:
        return EmailInteraction(
            direction="outbound",
            provider="sendgrid",
            provider_id=key,
            status="delivered",
            address=address,
            subject_line=filler or "Newsletter",
            campaign=campaign,
        )
    if kind == 2:
        return WebInteraction(
            direction="inbound",
            provider="segment",
            provider_id=key,
            status="received",
            action="page",
            name="Home",
            url="https://shop.example/" + filler,
        )
    return CallInteraction(
        direction="inbound",
        provider="asterisk",
        provider_id=key,
        status="completed",
        from_number=phone,
        to_number="+33140000000",
        duration_seconds=rng.randrange(600),
        notes=filler or None,
    )


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
            data = interaction_of(rng, key, f"+3361{n:07d}", f"person{n}@example.org", filler)
            yield event(person_id, data, at, key, source="crossview/synthetic")


def synthetic_people(people: int, seed: int = 3, organisations: int | None = None) -> Iterator[CloudEvent]:
    """N people with realistic function mixes, as the relay would publish them: one to four
    functions each at organisations of every kind and relationship, a quarter of them ended, a few
    starting in the future, emails per function, a mobile per person, some reordered by hand."""
    rng = random.Random(seed)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    referential = str(uuid.uuid5(DEMO_NAMESPACE, f"synthetic:{seed}:titles"))
    for code, label in TITLES.items():
        yield event(referential, TitleDefined(code=code, label=label), at, f"synthetic:{seed}:title:{code}")
    org_ids = []
    for n in range(organisations or max(3, people // 5)):
        org_id = str(uuid.uuid5(DEMO_NAMESPACE, f"synthetic:{seed}:org:{n}"))
        org_ids.append(org_id)
        kind = rng.choice(["company", "company", "association", "public_body"])
        relationship = rng.choice(["client", "prospect", "prescriber"])
        yield event(
            org_id,
            OrganisationRegistered(name=f"{rng.choice(_ORG_WORDS)} {n}", kind=kind, relationship=relationship),
            at,
            f"synthetic:{seed}:org:{n}",
        )
    titles = list(TITLES)
    for n in range(people):
        person_id = str(uuid.uuid5(DEMO_NAMESPACE, f"synthetic:{seed}:person:{n}"))
        key = f"synthetic:{seed}:person:{n}"
        yield event(
            person_id,
            PersonRegistered(given_name=rng.choice(_GIVEN), family_name=f"{rng.choice(_FAMILY)}{n}"),
            at,
            f"{key}:registered",
        )
        yield event(person_id, AttributeSet(name="mobile_phone", value=f"+336{n:08d}"), at, f"{key}:mobile")
        functions = []
        for k in range(rng.choice([1, 1, 2, 2, 3, 4])):
            function_id = f"{person_id}:{k}"
            entered = date(2010 + rng.randrange(16), 1 + rng.randrange(12), 1)
            if rng.random() < 0.05:
                entered = date(2027, 1, 1)  # not started yet
            yield event(
                person_id,
                FunctionAssigned(
                    function_id=function_id,
                    organisation_id=rng.choice(org_ids),
                    title_code=titles[(n + k) % len(titles)],
                    entered_on=entered,
                ),
                at,
                f"{key}:function:{k}",
            )
            yield event(
                person_id,
                AttributeSet(name="email", value=f"p{n}.f{k}@example.org", function_id=function_id),
                at,
                f"{key}:email:{k}",
            )
            if rng.random() < 0.25:
                yield event(
                    person_id,
                    FunctionEnded(function_id=function_id, exited_on=date(2026, 1 + rng.randrange(12), 28)),
                    at,
                    f"{key}:ended:{k}",
                )
            functions.append(function_id)
        if len(functions) > 1 and rng.random() < 0.3:
            rng.shuffle(functions)
            yield event(person_id, FunctionsReprioritised(function_ids=functions), at, f"{key}:reorder")


_ORG_WORDS = ["Garden", "Telecom", "Networks", "Bakery", "Transport", "Energy", "Association", "Town of", "Clinic"]
_GIVEN = ["Fabien", "Claire", "Amine", "Sophie", "Louis", "Nadia", "Hugo", "Emma", "Karim", "Léa"]
_FAMILY = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau", "Simon"]
