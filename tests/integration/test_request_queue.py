"""The service desk's queue on the real database: the projector keeps the request_queue table in the
transaction that saves the views, so PostgreSQL pages through every filter exactly as the in-memory
store does (breached first, then the earliest due, each row once); a join names the survivor, an
erasure deletes the person's rows; a generation made before the queue gets it from its views; and
the queue is served over HTTP with its filters, on the real broker and database."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from psycopg import sql

from projections.memory_store import MemoryStore
from projections.postgres_request_queue import install
from projections.request_queue import STATES, QueueQuery
from schemas.events import (
    PersonErased,
    PersonJoined,
    PersonMerged,
    ServiceRequestAssigned,
    ServiceRequestOpened,
    ServiceRequestStateChanged,
)
from services.bootstrap import production
from services.demo.data import event
from services.http.app import create_app
from tests.integration.test_person_documents import EVENTS, PEOPLE, Feed
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

AT = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)  # the instant the queue is read at
PATHS = {  # where a request goes after it opens
    "open": [],
    "in_progress": ["in_progress"],
    "waiting_for_customer": ["in_progress", "waiting_for_customer"],
    "resolved": ["in_progress", "resolved"],
    "closed": ["in_progress", "resolved", "closed"],
}


def requests_of(people: list[str], seed: int = 7) -> list:
    """A few requests for each person: due from two days ago to three days on, some moved on,
    some resolved late, some assigned."""
    rng, events, n = random.Random(seed), [], 0
    for person in people:
        for _ in range(rng.randint(1, 4)):
            n += 1
            rid, opened = f"req-{n:04d}", AT - timedelta(hours=rng.randint(24, 96))
            due = opened + timedelta(hours=rng.choice([24, 48, 72]))
            events.append(event(person, ServiceRequestOpened(
                request_id=rid, kind=rng.choice(["request", "complaint", "question"]),
                channel=rng.choice(["email", "web", "call"]), subject=f"Sujet {n}", opened_at=opened, due_at=due,
                opened_by="test"), opened, f"{rid}:opened"))  # fmt: skip
            previous, at = "open", opened
            for state in PATHS[rng.choice(list(PATHS))]:
                at = at + timedelta(hours=rng.randint(1, 40))
                events.append(event(person, ServiceRequestStateChanged(
                    request_id=rid, state=state, previous_state=previous, at=at, by="bob"), at, f"{rid}:{state}"))  # fmt: skip
                previous = state
            if rng.random() < 0.4:
                events.append(event(person, ServiceRequestAssigned(
                    request_id=rid, assignee=rng.choice(["amelie", "bob"]), by="lead"), opened, f"{rid}:assigned"))  # fmt: skip
    return events


QUERIES = [
    QueueQuery(AT),
    QueueQuery(AT, states=STATES),
    QueueQuery(AT, states=("open", "waiting_for_customer")),
    QueueQuery(AT, states=("closed",)),
    QueueQuery(AT, assignee="amelie"),
    QueueQuery(AT, unassigned=True),
    QueueQuery(AT, unassigned=False, states=STATES),
    QueueQuery(AT, kind="complaint"),
    QueueQuery(AT, breached=True),
    QueueQuery(AT, breached=False, states=STATES),
    QueueQuery(AT, due_before=AT),
    QueueQuery(AT, due_before=AT + timedelta(days=1), kind="question", states=STATES),
]


def every_page(store, query: QueueQuery, limit: int) -> list:
    rows, after = [], None
    while True:
        page = store.service_request_queue(QueueQuery(**{**query.__dict__, "after": after, "limit": limit}))
        rows += page
        if len(page) < limit:
            return rows
        after = page[-1].key(query.at)


def test_postgresql_pages_through_every_filter_as_the_memory_store_does(settings, store):
    memory = MemoryStore()
    feed = Feed(settings, store, memory)
    people = PEOPLE[:40]
    feed.send(EVENTS)
    feed.send(requests_of(people))
    total = sum(1 for e in requests_of(people) if e.type == ServiceRequestOpened.event_type)
    assert len(every_page(store, QueueQuery(AT, states=STATES), 1000)) == total
    for query in QUERIES:
        whole = memory.service_request_queue(QueueQuery(**{**query.__dict__, "limit": 1000}))
        assert whole, query  # every query finds something: the comparison says something
        assert every_page(store, query, 1000) == whole, query
        assert every_page(store, query, 7) == whole, query  # paged: each row once, in the same order
        keys = [row.key(AT) for row in whole]
        assert keys == sorted(keys)
        assert all(query.keeps(row) for row in whole)
    breached = store.service_request_queue(QueueQuery(AT, breached=True, limit=1000))
    assert all(row.breached(AT) for row in breached) and breached[0].due_at < AT

    # Joined: the absorbed person's requests name the survivor. Erased: their rows are gone.
    survivor, absorbed, erased = people[0], people[1], people[2]
    feed.send(
        [
            event(survivor, PersonJoined(absorbed_id=absorbed), AT, "join:1"),
            event(absorbed, PersonMerged(survivor_id=survivor), AT, "join:2"),
            event(erased, PersonErased(erased_on=date(2026, 2, 10)), AT, "erase:1"),
        ]
    )
    rows = every_page(store, QueueQuery(AT, states=STATES), 1000)
    assert rows == memory.service_request_queue(QueueQuery(AT, states=STATES, limit=1000))
    assert {row.person_id for row in rows if row.holder_id == absorbed} == {survivor}
    assert not [row for row in rows if erased in (row.holder_id, row.person_id)]
    with store._pool.connection() as conn:
        left = conn.execute(
            sql.SQL("SELECT count(*) FROM {schema}.request_queue WHERE holder_id = %s").format(
                schema=store._generations.schema(store.generation)
            ),
            (erased,),
        ).fetchone()[0]
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'request_queue'",
                (f"{settings.namespace}_g{store.generation}",),
            ).fetchall()
        }
    assert left == 0
    assert {"request_queue_due", "request_queue_assignee", "request_queue_kind", "request_queue_holder"} <= indexes


def test_a_generation_made_before_the_queue_gets_it_from_its_views(settings, store):
    feed = Feed(settings, store)
    feed.send(EVENTS[:200])
    feed.send(requests_of(PEOPLE[:10], seed=3))
    before = every_page(store, QueueQuery(AT, states=STATES), 1000)
    schema = f"{settings.namespace}_g{store.generation}"
    with store._pool.connection() as conn, conn.transaction():
        conn.execute(sql.SQL("DROP TABLE {schema}.request_queue").format(schema=sql.Identifier(schema)))
        install(conn, schema)
    assert before and every_page(store, QueueQuery(AT, states=STATES), 1000) == before


def test_the_queue_over_http_on_the_real_services(settings, store):
    with (
        ProjectorThread(settings),
        TestClient(create_app(lambda: production(settings)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien = ids["fabien"]
        claire = scenario.command("post", "/v1/persons", {"given_name": "Claire", "family_name": "Dubois"}, 201)
        opened = {}
        for person, kind, subject in (
            (fabien, "complaint", "Facture en double"),
            (claire, "question", "Horaires du showroom"),
            (fabien, "request", "Changer d'adresse"),
        ):
            opened[subject] = scenario.command(
                "post", f"/v1/persons/{person}/service-requests", {"kind": kind, "subject": subject}, 201
            )
        requests = f"/v1/persons/{fabien}/service-requests"
        scenario.command("put", f"{requests}/{opened['Facture en double']}/assignee", {"assignee": "amelie"})
        moved = opened["Changer d'adresse"]
        scenario.command("post", f"{requests}/{moved}/state", {"state": "in_progress"})
        wait_until(caught_up(store, settings), 60, "the projector")

        queue = scenario.read("get", "/v1/service-requests")
        assert [(r["subject"], r["kind"], r["person_id"]) for r in queue["service_requests"]] == [
            ("Horaires du showroom", "question", claire),  # due in 24 h
            ("Facture en double", "complaint", fabien),  # 48 h
            ("Changer d'adresse", "request", fabien),  # 72 h
        ]
        assert queue["freshness"]["position"] and queue["next_page"] is None
        mine = scenario.read("get", "/v1/service-requests", params={"assignee": "amelie"})["service_requests"]
        assert [r["request_id"] for r in mine] == [opened["Facture en double"]]
        waiting = scenario.read("get", "/v1/service-requests", params={"unassigned": "true"})["service_requests"]
        assert [r["subject"] for r in waiting] == ["Horaires du showroom", "Changer d'adresse"]
        moving = scenario.read("get", "/v1/service-requests", params={"state": "in_progress"})["service_requests"]
        assert [(r["subject"], r["state"]) for r in moving] == [("Changer d'adresse", "in_progress")]
        first = scenario.read("get", "/v1/service-requests", params={"limit": 2})
        second = scenario.read("get", "/v1/service-requests", params={"limit": 2, "after": first["next_page"]})
        assert [r["subject"] for r in first["service_requests"] + second["service_requests"]] == [
            r["subject"] for r in queue["service_requests"]
        ]
        assert scenario.read("get", "/v1/service-requests", params={"breached": "true"})["service_requests"] == []
