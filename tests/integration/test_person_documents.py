"""The ready 360° documents the projector keeps in PostgreSQL answer exactly what the view made
from the person's view, references and roster answers (and what the memory store answers), after
every kind of change a document shows: a colleague renamed, a new function, an ended one, an
organisation's relationship, a title relabelled or retired, a new day; and a generation made before
documents existed gets them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from channels.memory import MemoryDeadLetters, MemoryLog
from projections.memory_store import MemoryStore
from projections.person_document import LINKS_SHOWN, Moment, person_360, splice, today
from projections.projector import Projector
from schemas.api import Freshness
from schemas.events import (
    FunctionAssigned,
    FunctionEnded,
    OrganisationRelationshipChanged,
    PersonErased,
    PersonJoined,
    PersonMerged,
    PersonRegistered,
    PersonRenamed,
    SmsInteraction,
    TitleDefined,
    TitleRetired,
    stream_of,
)
from schemas.journey_events import JourneyStepReached, OfferDeclined, OfferDefined, OfferWithdrawn
from services.demo.data import event, synthetic_people

FRESH = Freshness(position={"t:0": 3}, caught_up=True)
EVENTS = list(synthetic_people(240, seed=11, organisations=4))  # about 120 people an organisation
PEOPLE = [e.subject for e in EVENTS if e.type == PersonRegistered.event_type]
ORGANISATIONS = [e.subject for e in EVENTS if e.type == "crossview.organisation.registered.v1"]
TITLES_SUBJECT = next(e.subject for e in EVENTS if e.type == TitleDefined.event_type)
AT = datetime(2026, 2, 1, tzinfo=UTC)


class Feed:
    """One log, one projector per store: the same records reach PostgreSQL and memory."""

    def __init__(self, settings, *stores) -> None:
        self.settings, self.stores = settings, stores
        self.sent: set[tuple[str, int, int]] = set()
        self.log = MemoryLog(settings.partitions)
        self.projectors = []
        for store in stores:
            projector = Projector(store, MemoryDeadLetters())
            projector.assign([p for topic in settings.event_topics for p in self.log.partitions_of(topic)])
            self.projectors.append(projector)

    def send(self, events) -> None:
        for topic in self.settings.event_topics:
            self.log.publish(topic, [e for e in events if self.settings.topic(stream_of(e.type)) == topic])
            records = [r for r in self.log.records(topic) if (topic, r.partition, r.offset) not in self.sent]
            self.sent |= {(topic, r.partition, r.offset) for r in records}
            for first in range(0, len(records), 500):  # several batches, like a live projector
                for projector in self.projectors:
                    projector.process(records[first : first + 500])

    def refresh(self) -> None:
        """What the projector does between batches: make again what went stale."""
        for store in self.stores:
            while store.refresh_documents(today(), 100):
                pass


def answered(store, person_id: str, day) -> dict:
    """The 360° view made from the store's views, references and roster (no document)."""
    context = store.person_context(person_id, day, LINKS_SHOWN)
    answer = person_360(context.view, context.references, context.colleagues, day, FRESH)
    return json.loads(answer.model_dump_json(exclude={"time_travel"}))  # as the route answers a live view


def ready_answer(store, person_id: str, day) -> dict | None:
    ready = store.person_document(person_id, day)
    return None if ready is None else json.loads(splice(person_id, *ready, day, FRESH))


def check_everyone(store, memory) -> int:
    """Every person's document, where one holds, equals the view made without it; returns how many held."""
    day, held = today(), 0
    for person_id in PEOPLE:
        document = ready_answer(store, person_id, day)
        expected = answered(memory, person_id, day)
        assert answered(store, person_id, day) == expected
        if document is not None:
            held += 1
            assert document == expected, person_id
    return held


@pytest.fixture
def fed(settings, store):
    memory = MemoryStore()
    feed = Feed(settings, store, memory)
    feed.send(EVENTS)
    feed.refresh()
    return feed, store, memory


def _links_of(store, person_id: str) -> list[dict]:
    return answered(store, person_id, today())["links"]


def test_every_document_equals_the_view_made_without_it(fed):
    _, store, memory = fed
    assert check_everyone(store, memory) == len(PEOPLE)
    big = max(_links_of(store, PEOPLE[0]) or [{"people": []}], key=lambda o: len(o["people"]))
    assert len(big["people"]) == LINKS_SHOWN  # organisations with more people than shown


def test_a_colleague_renamed_or_newly_arrived_reaches_the_documents_that_show_them(fed):
    feed, store, memory = fed
    organisation = _links_of(store, PEOPLE[0])[0]
    first = organisation["people"][0]["person_id"]
    newcomer = "0a0a0a0a-0000-4000-8000-000000000001"
    feed.send(
        [
            event(first, PersonRenamed(given_name="Zoé", family_name="Zzyzx"), AT, "doc:rename"),
            event(newcomer, PersonRegistered(given_name="Aaron", family_name="Aaa"), AT, "doc:newcomer"),
            event(
                newcomer,
                FunctionAssigned(
                    function_id="f-new",
                    organisation_id=organisation["organisation"]["organisation_id"],
                    title_code="TREASURER",
                    entered_on=AT.date(),
                ),
                AT,
                "doc:newcomer:function",
            ),
        ]
    )
    assert check_everyone(store, memory) == len(PEOPLE)
    shown = [p["person_id"] for p in _links_of(store, PEOPLE[0])[0]["people"]]
    assert newcomer in shown and first not in shown  # "Aaa" sorts among the first, "Zzyzx" past the fiftieth


def test_an_ended_function_and_a_new_day_are_made_again(fed):
    feed, store, memory = fed
    person = next(p for p in PEOPLE if answered(store, p, today())["functions"])
    function_id = answered(store, person, today())["functions"][0]["function_id"]
    feed.send([event(person, FunctionEnded(function_id=function_id, exited_on=today() - timedelta(days=1)), AT, "end")])
    assert check_everyone(store, memory) == len(PEOPLE)
    assert function_id not in [f["function_id"] for f in answered(store, person, today())["functions"]]
    # A document is for the day it was made for: another day is answered from the views.
    assert store.person_document(person, today() - timedelta(days=1)) is None
    # It holds until one of the person's functions starts or ends.
    start = today() + timedelta(days=30)
    starting = PEOPLE[5]
    feed.send(
        [
            event(
                starting,
                FunctionAssigned(
                    function_id="f-later", organisation_id=ORGANISATIONS[0], title_code="TREASURER", entered_on=start
                ),
                AT,
                "later",
            )
        ]
    )
    assert check_everyone(store, memory) == len(PEOPLE)
    assert store.person_document(starting, today()) is not None
    assert store.person_document(starting, start) is None


def test_a_changed_organisation_or_title_marks_documents_stale_until_made_again(fed):
    feed, store, memory = fed
    organisation = ORGANISATIONS[1]
    feed.send(
        [
            event(organisation, OrganisationRelationshipChanged(relationship="client", since=AT.date()), AT, "org"),
            event(TITLES_SUBJECT, TitleDefined(code="TREASURER", label="Trésorière"), AT, "relabel"),
            event(TITLES_SUBJECT, TitleRetired(code="BOARD_MEMBER"), AT, "retire"),
        ]
    )
    held = check_everyone(store, memory)  # the stale ones are answered from the views, and right
    assert held < len(PEOPLE)
    feed.refresh()
    assert check_everyone(store, memory) == len(PEOPLE)


def test_a_generation_made_before_documents_gets_them(fed, settings):
    feed, store, memory = fed
    schema = sql.Identifier(f"{settings.namespace}_g{store.generation}")
    with store._pool.connection() as conn:
        conn.execute(sql.SQL("DROP TABLE {s}.person_document, {s}.organisation_links").format(s=schema))
    store.install()
    assert check_everyone(store, memory) == 0
    feed.refresh()
    assert check_everyone(store, memory) == len(PEOPLE)


def test_links_kept_as_arrays_by_an_earlier_build_are_converted(fed, settings):
    _, store, memory = fed
    schema = sql.Identifier(f"{settings.namespace}_g{store.generation}")
    with store._pool.connection() as conn:
        conn.execute(
            sql.SQL(
                "ALTER TABLE {s}.organisation_links "
                "ALTER COLUMN people TYPE text[] USING string_to_array(people, E'\\n'), "
                "ALTER COLUMN entries TYPE text[] USING string_to_array(entries, E'\\n')"
            ).format(s=schema)
        )
    store.install()
    assert check_everyone(store, memory) == len(PEOPLE)


def test_people_joined_or_erased_have_no_document_and_leave_no_name_in_links(fed, settings):
    feed, store, memory = fed
    survivor, absorbed, erased = PEOPLE[10], PEOPLE[11], PEOPLE[12]
    erased_name = store.person(erased).family_name
    feed.send(
        [
            event(survivor, PersonJoined(absorbed_id=absorbed), AT, "join"),
            event(absorbed, PersonMerged(survivor_id=survivor), AT, "merged"),
            event(erased, PersonErased(erased_on=AT.date()), AT, "erase"),
        ]
    )
    feed.refresh()
    assert [store.person_document(p, today()) for p in (survivor, absorbed, erased)] == [None, None, None]
    assert check_everyone(store, memory) == len(PEOPLE) - 3
    with store._pool.connection() as conn:
        schema = sql.Identifier(f"{settings.namespace}_g{store.generation}")
        dumped = conn.execute(
            sql.SQL("SELECT string_agg(entries, '') FROM {s}.organisation_links").format(s=schema)
        ).fetchone()[0]
    assert erased_name and erased_name not in dumped


def test_documents_of_another_format_are_made_again(fed, settings):
    feed, store, memory = fed
    schema = sql.Identifier(f"{settings.namespace}_g{store.generation}")
    with store._pool.connection() as conn:
        conn.execute(sql.SQL("UPDATE {s}.person_document SET format = 0").format(s=schema))
    store.install()
    assert check_everyone(store, memory) == 0
    feed.refresh()
    assert check_everyone(store, memory) == len(PEOPLE)


def test_journeys_and_offers_show_in_a_ready_document_as_in_the_view_made_without_it(fed):
    feed, store, memory = fed
    person = next(p for p in PEOPLE if answered(store, p, today())["functions"])
    organisation = answered(store, person, today())["functions"][0]["organisation"]["organisation_id"]
    catalogue = "offer-catalogue"
    now = datetime.now(UTC)
    feed.send(
        [
            event(catalogue, OfferDefined(code="PROMO", label="Promo", campaign="spring"), AT, "promo-defined"),
            event(
                catalogue,
                OfferDefined(code="KIT", label="Kit", suggested=True, reason="Completes", relationships=["client"], journey_types=["purchase"]),
                AT,
                "kit-defined",
            ),
            event(person, SmsInteraction(direction="outbound", provider="twilio", provider_id="SM-p", status="delivered",
                                         from_number="+33140000000", to_number="+33600000000", campaign="spring"), now - timedelta(days=1), "promo"),
            event(person, JourneyStepReached(journey_id="C-1", journey_type="purchase", step=2, step_count=3,
                                             step_name="Payment", channel="web", provider="segment", provider_id="m1"), now - timedelta(hours=2), "step"),
            event(organisation, OrganisationRelationshipChanged(relationship="client", since=AT.date()), AT, "client"),
        ]
    )  # fmt: skip
    feed.refresh()
    moment = Moment(catalogue=store.offer_catalogue(), now=now)
    context = store.person_context(person, today(), LINKS_SHOWN)
    made = json.loads(
        person_360(context.view, context.references, context.colleagues, today(), FRESH, moment).model_dump_json(
            exclude={"time_travel"}  # as the route answers a live view
        )
    )
    ready = store.person_document(person, today())
    assert ready is not None
    assert json.loads(splice(person, *ready, today(), FRESH, moment)) == made
    assert made["journeys"][0]["summary"] == "step 2 of 3 — Payment" and made["journeys"][0]["stalled"]
    assert [o["code"] for o in made["offers"]] == ["PROMO"] and made["next_offer"]["code"] == "KIT"
    # An answer is the person's event: the document is made again with it.
    feed.send([event(person, OfferDeclined(code="KIT", channel="call"), now, "declined")])
    ready = json.loads(splice(person, *store.person_document(person, today()), today(), FRESH, moment))
    assert ready["next_offer"] is None and ready["offers"] == made["offers"]


def test_the_catalogue_a_360_answer_uses_follows_every_change_without_a_read_of_its_own(fed):
    feed, store, _ = fed
    person, catalogue = PEOPLE[0], "offer-catalogue"
    assert store.ready_360(person, today())[1] == {}  # no catalogue row: nothing to read
    feed.send([event(catalogue, OfferDefined(code="A", label="A", suggested=True), AT, "a-defined")])
    feed.refresh()
    ready, offers = store.ready_360(person, today())
    assert ready == store.person_document(person, today()) and set(offers) == {"A"}  # a new version: read...
    reads, rows = [], store._rows
    store._rows = lambda *args: reads.append(args) or rows(*args)
    assert set(store.ready_360(person, today())[1]) == {"A"} and len(reads) == 1  # ...then kept: one read
    store._rows = rows
    feed.send([event(catalogue, OfferWithdrawn(code="A"), AT, "a-withdrawn")])
    feed.send([event(catalogue, OfferDefined(code="B", label="B"), AT, "b-defined")])
    feed.refresh()
    _, changed = store.ready_360(person, today())
    assert set(changed) == {"A", "B"} and changed["A"]["withdrawn"]
