"""The service desk's queue across people: the rows a person view gives (following its requests, its
join, its erasure), the order and filters, paging that shows every row once, the in-memory store
keeping it, and the operation on the embedded default."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.facts import fact_of
from projections.memory_store import MemoryStore
from projections.person_view import fold
from projections.request_queue import QueueQuery, QueueRow, page_of, queue_rows
from schemas.envelope import CloudEvent
from schemas.events import (
    PersonErased,
    PersonMerged,
    ServiceRequestAssigned,
    ServiceRequestOpened,
    ServiceRequestStateChanged,
)
from services.application.auth import Role
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE, bearer

OPENED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _fact(data, n: int, person: str = "fabien", at: datetime = OPENED):
    return fact_of(
        CloudEvent(id=f"{person}-{n}", source="t", type=data.event_type, subject=person, time=at,
                   data=data.model_dump(mode="json"))
    )  # fmt: skip


def _opened(request_id: str, hours: int, kind: str = "complaint") -> ServiceRequestOpened:
    return ServiceRequestOpened(
        request_id=request_id, kind=kind, channel="email", subject=f"about {request_id}",
        opened_at=OPENED, due_at=OPENED + timedelta(hours=hours), opened_by="sendgrid",
    )  # fmt: skip


def _moved(request_id: str, state: str, previous: str, hours: int) -> ServiceRequestStateChanged:
    return ServiceRequestStateChanged(
        request_id=request_id, state=state, previous_state=previous, at=OPENED + timedelta(hours=hours), by="bob"
    )


FABIENS = [
    _fact(_opened("late", 1), 1),
    _fact(_opened("soon", 5, "question"), 2),
    _fact(_opened("resolved-late", 2), 3),
    _fact(_opened("resolved-on-time", 2), 4),
    _fact(_opened("closed", 1), 5),
    _fact(ServiceRequestAssigned(request_id="soon", assignee="bob", by="alice"), 6),
    _fact(_moved("resolved-late", "resolved", "open", 3), 7),
    _fact(_moved("resolved-on-time", "resolved", "open", 1), 8),
    _fact(_moved("closed", "resolved", "open", 0), 9),
    _fact(_moved("closed", "closed", "resolved", 0), 10),
]
AT = OPENED + timedelta(hours=2)  # "late" is past due, "soon" is not


def test_a_views_rows_follow_its_requests_and_name_whom_it_was_joined_into():
    view = fold(FABIENS)["fabien"]
    rows = {row.request_id: row for row in queue_rows(view)}
    assert set(rows) == {"late", "soon", "resolved-late", "resolved-on-time", "closed"}
    soon = rows["soon"]
    assert (soon.person_id, soon.holder_id, soon.kind, soon.assignee, soon.state) == (
        "fabien", "fabien", "question", "bob", "open",
    )  # fmt: skip
    assert rows["resolved-late"].done_at == OPENED + timedelta(hours=3)
    assert rows["late"].done_at is None
    joined = fold([_fact(PersonMerged(survivor_id="fabien-b"), 11)], {"fabien": view})["fabien"]
    assert {row.person_id for row in queue_rows(joined)} == {"fabien-b"}
    assert {row.holder_id for row in queue_rows(joined)} == {"fabien"}


def test_an_erased_persons_view_gives_no_row():
    view = fold(FABIENS)["fabien"]
    erased = fold([_fact(PersonErased(erased_on=date(2026, 12, 1)), 11)], {"fabien": view})["fabien"]
    assert queue_rows(erased) == []


def test_the_queue_lists_breached_ones_first_then_the_earliest_due_and_leaves_closed_ones_out_by_default():
    rows = queue_rows(fold(FABIENS)["fabien"])
    page = page_of(rows, QueueQuery(AT))
    assert [(r.request_id, r.breached(AT)) for r in page] == [
        ("late", True),  # due at 10:00, unresolved at 11:00
        ("resolved-late", True),  # due at 11:00, resolved at 12:00
        ("resolved-on-time", False),
        ("soon", False),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (QueueQuery(AT, states=("open",)), ["late", "soon"]),
        (QueueQuery(AT, states=("closed", "resolved")), ["resolved-late", "closed", "resolved-on-time"]),
        (QueueQuery(AT, assignee="bob"), ["soon"]),
        (QueueQuery(AT, kind="question"), ["soon"]),
        (QueueQuery(AT, unassigned=False), ["soon"]),
        (QueueQuery(AT, unassigned=True), ["late", "resolved-late", "resolved-on-time"]),
        (QueueQuery(AT, breached=True), ["late", "resolved-late"]),
        (QueueQuery(AT, breached=False), ["resolved-on-time", "soon"]),
        (QueueQuery(AT, due_before=OPENED + timedelta(hours=3)), ["late", "resolved-late", "resolved-on-time"]),
        (QueueQuery(AT, limit=1), ["late"]),
    ],
)
def test_each_filter_keeps_only_its_requests(query, expected):
    assert [r.request_id for r in page_of(queue_rows(fold(FABIENS)["fabien"]), query)] == expected


def _row(n: int, due_hours: int | None, state: str, done_hours: int | None) -> QueueRow:
    due = OPENED + timedelta(hours=due_hours) if due_hours is not None else None
    done = OPENED + timedelta(hours=done_hours) if done_hours is not None and state in ("resolved", "closed") else None
    return QueueRow(f"r{n:03d}", "p", "p", "request", "web", "s", None, state, None, OPENED, due, done)


rows_strategy = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-5, 5)),
        st.sampled_from(["open", "in_progress", "waiting_for_customer", "resolved", "closed"]),
        st.one_of(st.none(), st.integers(-5, 5)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(rows_strategy, st.integers(1, 7))
def test_paging_through_the_queue_shows_every_row_once_in_the_queues_order(specs, limit):
    rows = [_row(n, due, state, done) for n, (due, state, done) in enumerate(specs)]
    whole = page_of(rows, QueueQuery(OPENED, limit=1000))
    paged, after = [], None
    while True:
        page = page_of(rows, QueueQuery(OPENED, after=after, limit=limit))
        paged += page
        if len(page) < limit:
            break
        after = page[-1].key(OPENED)
    assert paged == whole
    assert [r.key(OPENED) for r in whole] == sorted(r.key(OPENED) for r in whole)
    flags = [r.breached(OPENED) for r in whole]
    assert flags == sorted(flags, reverse=True)  # breached first


def test_the_memory_store_keeps_the_queue_as_views_are_saved_and_an_erasure_empties_it():
    store = MemoryStore()
    claire = [_fact(_opened("claire-1", 3), 1, "claire")]
    views = fold([*FABIENS, *claire])
    with store.transaction() as tx:
        tx.save_views(views.values())
    assert len(store.service_request_queue(QueueQuery(AT, limit=100))) == 5
    with store.transaction() as tx:
        erased = fold([_fact(PersonErased(erased_on=date(2026, 12, 1)), 11)], tx.views(["fabien"]))
        tx.save_views(erased.values())
    assert [(r.person_id, r.request_id) for r in store.service_request_queue(QueueQuery(AT))] == [
        ("claire", "claire-1")
    ]


# --- over HTTP on the embedded default --------------------------------------------------------


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=True)), headers=EVERY_ROLE) as client:
        yield client


def test_the_queue_over_http_pages_filters_and_pseudonymises_for_analysts(client):
    fabien = str(client.app.state.crossview.demo.fabien)
    opened = [
        client.post(f"/v1/persons/{fabien}/service-requests", json={"kind": kind, "subject": f"Haie {n}"}).json()["id"]
        for n, kind in enumerate(["complaint", "question", "request"])
    ]
    client.put(f"/v1/persons/{fabien}/service-requests/{opened[0]}/assignee", json={"assignee": "amelie"})
    every = client.get("/v1/service-requests", params={"limit": 500}).json()
    mine = [r for r in every["service_requests"] if r["request_id"] in opened]
    assert [r["kind"] for r in mine] == ["question", "complaint", "request"]  # due in 24 h, 48 h, 72 h
    assert {r["person_id"] for r in mine} == {fabien}
    dues = [r["due_at"] for r in every["service_requests"] if not r["breached"]]
    assert dues == sorted(dues)

    pages, after = [], None
    while True:
        answer = client.get("/v1/service-requests", params={"limit": 2, **({"after": after} if after else {})})
        assert answer.status_code == 200, answer.text
        pages += answer.json()["service_requests"]
        after = answer.json()["next_page"]
        if after is None:
            break
    assert pages == every["service_requests"]

    (assigned,) = client.get("/v1/service-requests", params={"assignee": "amelie"}).json()["service_requests"]
    assert assigned["request_id"] == opened[0]
    kinds = client.get("/v1/service-requests", params={"kind": "question", "state": "open,in_progress"}).json()
    assert opened[1] in [r["request_id"] for r in kinds["service_requests"]]
    assert {r["kind"] for r in kinds["service_requests"]} == {"question"}

    analyst = client.get("/v1/service-requests", headers=bearer(Role.ANALYST)).json()["service_requests"]
    seen = {r["request_id"]: r for r in analyst}
    assert seen[opened[0]]["subject"].startswith("~") and seen[opened[0]]["person_id"] == fabien


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "pending"}, "query.state"),
        ({"state": ["open", "lost"]}, "query.state"),
        ({"due_before": "2026-12-01T18:00:00"}, "query.due_before"),
        ({"after": "bm90IGEgY3Vyc29y"}, "query.after"),
        ({"after": "%%%"}, "query.after"),
        ({"limit": 0}, "query.limit"),
        ({"breached": "maybe"}, "query.breached"),
    ],
)
def test_a_filter_or_cursor_it_cannot_read_is_a_422_naming_it(client, params, field):
    answer = client.get("/v1/service-requests", params=params)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]
