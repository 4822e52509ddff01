"""Service requests and complaints: the aggregate's rules, the referential of kinds, the fold, and
the API on the embedded default."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from domain.errors import (
    RequestClosedError,
    RequestTransitionError,
    RetiredRequestKindError,
    UnknownRequestKindError,
)
from domain.service_request import STATES, TRANSITIONS, RequestKinds, ServiceRequest, kind_named
from projections.facts import fact_of
from projections.person_document import person_valid_from, person_valid_until
from projections.person_model import PersonView
from projections.person_view import fold
from projections.service_requests import breached, listed
from schemas.envelope import CloudEvent
from schemas.events import ServiceRequestAssigned, ServiceRequestOpened, ServiceRequestStateChanged
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE

OPENED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def a_request(state: str = "open") -> ServiceRequest:
    request = ServiceRequest(
        "fabien", "complaint", "email", "Double billing", OPENED, OPENED + timedelta(hours=48), "a"
    )
    for step in {"open": [], "in_progress": ["in_progress"], "waiting_for_customer": ["waiting_for_customer"],
                 "resolved": ["resolved"], "closed": ["resolved", "closed"]}[state]:  # fmt: skip
        request.change_state(step, "alice", OPENED)
    return request


@pytest.mark.parametrize("source", STATES)
@pytest.mark.parametrize("target", STATES)
def test_every_transition_is_either_allowed_or_refused_by_name(source, target):
    request = a_request(source)
    if target == source:
        request.change_state(target, "alice", OPENED)  # a retried call: nothing more
        assert request.state == source and len(request.collect_events()) == len(a_request(source).collect_events())
    elif target in TRANSITIONS[source]:
        request.change_state(target, "alice", OPENED)
        assert request.state == target
    else:
        with pytest.raises(RequestTransitionError, match=f"from {source} to {target}"):
            request.change_state(target, "alice", OPENED)


def test_a_closed_request_takes_no_assignment_nor_comment_until_reopened():
    request = a_request("closed")
    with pytest.raises(RequestClosedError):
        request.assign("bob", "alice")
    with pytest.raises(RequestClosedError):
        request.comment("bob", "called back")
    request.change_state("open", "alice", OPENED, "the refund never came")
    request.comment("bob", "called back")
    assert request.comments == [("bob", "called back")] and request.resolved_at is None


def test_a_breach_is_being_unresolved_past_the_due_time_or_resolved_late():
    request = a_request()
    due = request.due_at
    assert not request.breached(due - timedelta(seconds=1)) and request.breached(due + timedelta(seconds=1))
    request.change_state("resolved", "alice", due + timedelta(hours=1))
    assert request.breached(due) and request.breached(due + timedelta(days=9))
    on_time = a_request()
    on_time.change_state("resolved", "alice", due - timedelta(hours=1))
    assert not on_time.breached(due + timedelta(days=9))


def test_the_kinds_referential_gives_due_times_and_refuses_unknown_and_retired_kinds():
    kinds = RequestKinds()
    assert kinds.due_at("complaint", OPENED) == OPENED + timedelta(hours=48)
    kinds.define_kind("complaint", "Complaint", 4)
    assert kinds.due_at("complaint", OPENED) == OPENED + timedelta(hours=4)
    with pytest.raises(UnknownRequestKindError):
        kinds.due_at("claim", OPENED)
    kinds.retire_kind("question")
    with pytest.raises(RetiredRequestKindError):
        kinds.due_at("question", OPENED)
    assert kinds.open_kinds() == {"request", "complaint"}


def test_the_address_an_email_was_sent_to_names_its_kind():
    kinds = {"request", "complaint", "question"}
    assert kind_named(("support+complaint@crm.example",), kinds, "request") == "complaint"
    assert kind_named(("question@crm.example",), kinds, "request") == "question"
    assert kind_named(("support@crm.example",), kinds, "request") == "request"


def _fact(data, at: datetime, n: int):
    return fact_of(
        CloudEvent(
            id=f"e{n}", source="t", type=data.event_type, subject="fabien", time=at, data=data.model_dump(mode="json")
        )
    )


def _opened(request_id: str, hours: int) -> ServiceRequestOpened:
    return ServiceRequestOpened(
        request_id=request_id, kind="complaint", channel="email", subject=f"about {request_id}",
        opened_at=OPENED, due_at=OPENED + timedelta(hours=hours), opened_by="sendgrid",
    )  # fmt: skip


def test_the_fold_lists_open_requests_first_the_earliest_due_first_then_the_latest_finished():
    facts = [
        _fact(_opened("late", 1), OPENED, 1),
        _fact(_opened("soon", 5), OPENED, 2),
        _fact(_opened("done", 2), OPENED, 3),
        _fact(ServiceRequestAssigned(request_id="soon", assignee="bob", by="alice"), OPENED, 4),
        _fact(
            ServiceRequestStateChanged(
                request_id="done", state="resolved", previous_state="open", at=OPENED + timedelta(hours=3), by="bob"
            ),
            OPENED + timedelta(hours=3),
            5,
        ),
    ]
    one_by_one = PersonView(person_id="fabien")
    for f in facts:
        one_by_one = fold([f], {"fabien": one_by_one})["fabien"]
    view = fold(facts)["fabien"]
    assert view.service_requests == one_by_one.service_requests
    rows = listed(view.service_requests.values(), OPENED + timedelta(hours=2))
    assert [(r["request_id"], r["state"], r["breached"]) for r in rows] == [
        ("late", "open", True),
        ("soon", "open", False),
        ("done", "resolved", True),  # resolved an hour after its due time
    ]
    assert rows[1]["assignee"] == "bob" and not breached(view.service_requests["soon"], OPENED)


def test_a_ready_document_never_holds_across_the_instant_a_request_falls_due():
    view = fold([_fact(_opened("r", 60), OPENED, 1)])["fabien"]  # due 2 December, 21:00
    made_on = date(2026, 11, 30)
    assert (person_valid_from(view, made_on), person_valid_until(view, made_on)) == (made_on, date(2026, 12, 2))
    due_day = date(2026, 12, 2)  # made that day: held by no day, made again the next (flag settled)
    assert person_valid_from(view, due_day) == person_valid_until(view, due_day) == date(2026, 12, 3)
    after = date(2026, 12, 3)
    assert person_valid_from(view, after) == after and person_valid_until(view, after) > after


# --- over HTTP on the embedded default --------------------------------------------------------


@pytest.fixture
def client():
    with TestClient(create_app(lambda: embedded(Settings(), with_demo=True)), headers=EVERY_ROLE) as client:
        yield client


def ok(answer, status=200):
    assert answer.status_code == status, answer.text
    return answer.json()


def test_an_advisor_opens_moves_assigns_and_comments_a_complaint_and_the_360_view_shows_it(client):
    fabien = str(client.app.state.crossview.demo.fabien)
    requests = f"/v1/persons/{fabien}/service-requests"
    rid = ok(client.post(requests, json={"kind": "complaint", "subject": "Double billing", "channel": "call"}), 201)[
        "id"
    ]
    question = ok(client.post(requests, json={"kind": "question", "subject": "Opening hours?"}), 201)["id"]
    ok(client.post(f"{requests}/{question}/state", json={"state": "resolved", "reason": "answered"}))
    ok(client.post(f"{requests}/{rid}/state", json={"state": "in_progress"}))
    ok(client.put(f"{requests}/{rid}/assignee", json={"assignee": "team-billing"}))
    ok(client.post(f"{requests}/{rid}/comments", json={"text": "Refund asked to accounting"}), 201)

    view = ok(client.get(f"/v1/persons/{fabien}"))
    demo_complaint = view["service_requests"][0]  # the demo's: he complained by email as treasurer
    assert (demo_complaint["channel"], demo_complaint["subject"]) == ("email", "Cotisation 2026 prélevée deux fois")
    shown = [(r["request_id"], r["kind"], r["state"], r["breached"]) for r in view["service_requests"][1:]]
    assert shown == [(rid, "complaint", "in_progress", False), (question, "question", "resolved", False)]
    assert view["service_requests"][1]["due_at"] and view["service_requests"][1]["comments"] == 1
    one = ok(client.get(f"{requests}/{rid}"))
    assert (one["assignee"], [c["text"] for c in one["comments"]]) == ("team-billing", ["Refund asked to accounting"])
    listed_all = ok(client.get(requests))
    assert (listed_all["open"], listed_all["breached"]) == (2, 0)
    timeline = ok(client.get(f"/v1/persons/{fabien}/timeline"))
    assert "crossview.service-request.opened.v1" in {e["event_type"] for e in timeline["entries"]}


def test_rules_answer_409_with_their_name_and_bad_input_422_naming_the_field(client):
    fabien = str(client.app.state.crossview.demo.fabien)
    requests = f"/v1/persons/{fabien}/service-requests"
    rid = ok(client.post(requests, json={"kind": "request", "subject": "New badge"}), 201)["id"]
    ok(client.post(f"{requests}/{rid}/state", json={"state": "resolved"}))
    ok(client.post(f"{requests}/{rid}/state", json={"state": "closed"}))
    refused = client.post(f"{requests}/{rid}/state", json={"state": "in_progress"})
    assert refused.status_code == 409 and "RequestTransitionError" in refused.text
    closed = client.post(f"{requests}/{rid}/comments", json={"text": "late"})
    assert closed.status_code == 409 and "RequestClosedError" in closed.text
    unknown_kind = client.post(requests, json={"kind": "claim", "subject": "x"})
    assert unknown_kind.status_code == 404 and "UnknownRequestKindError" in unknown_kind.text
    bad = client.post(requests, json={"kind": "request", "subject": ""})
    assert bad.status_code == 422 and "body.subject" in bad.text
    bad_state = client.post(f"{requests}/{rid}/state", json={"state": "lost"})
    assert bad_state.status_code == 422 and "body.state" in bad_state.text
    someone_else = client.post(f"/v1/persons/{uuid.uuid4()}/service-requests/{rid}/state", json={"state": "open"})
    assert someone_else.status_code == 404


def test_an_administrator_keeps_the_kinds_and_a_note_can_open_a_request(client):
    ok(client.put("/v1/service-request-kinds/claim", json={"label": "Warranty claim", "service_level_hours": 120}))
    kinds = {k["code"]: k for k in ok(client.get("/v1/service-request-kinds"))["kinds"]}
    assert kinds["claim"]["service_level_hours"] == 120 and kinds["complaint"]["service_level_hours"] == 48
    ok(client.post("/v1/service-request-kinds/question/retire"))
    fabien = str(client.app.state.crossview.demo.fabien)
    retired = client.post(f"/v1/persons/{fabien}/service-requests", json={"kind": "question", "subject": "x"})
    assert retired.status_code == 409 and "RetiredRequestKindError" in retired.text

    note = ok(
        client.post(
            f"/v1/persons/{fabien}/notes",
            json={"text": "Mower broke after 3 weeks", "service_request": {"kind": "claim", "subject": "Broken mower"}},
        ),
        202,
    )
    one = ok(client.get(f"/v1/persons/{fabien}/service-requests/{note['service_request_id']}"))
    assert (one["kind"], one["channel"], one["description"]) == ("claim", "call", "Mower broke after 3 weeks")
    due = datetime.fromisoformat(one["due_at"]) - datetime.fromisoformat(one["opened_at"])
    assert due == timedelta(hours=120)


def test_erasing_a_person_erases_the_requests_opened_for_them_from_the_event_store(client):
    fabien = str(client.app.state.crossview.demo.fabien)
    rid = ok(client.post(f"/v1/persons/{fabien}/service-requests", json={"kind": "complaint", "subject": "x"}), 201)
    app = client.app.state.crossview.commands.app
    assert app.service_request(uuid.UUID(fabien), uuid.UUID(rid["id"])).subject == "x"
    assert client.delete(f"/v1/persons/{fabien}").status_code == 200
    with pytest.raises(Exception, match="no servicerequest"):
        app.service_request(uuid.UUID(fabien), uuid.UUID(rid["id"]))
    assert client.get(f"/v1/persons/{fabien}/service-requests").status_code == 410


def test_the_consoles_person_page_shows_the_requests_and_their_history(client):
    fabien = str(client.app.state.crossview.demo.fabien)
    rid = ok(
        client.post(f"/v1/persons/{fabien}/service-requests", json={"kind": "request", "subject": "New badge"}), 201
    )
    ok(client.post(f"/v1/persons/{fabien}/service-requests/{rid['id']}/state", json={"state": "in_progress"}))
    page = client.get(f"/people/{fabien}", headers={"accept": "text/html"})
    assert page.status_code == 200, page.text
    card = page.text.split('id="requests-card"', 1)[1].split("</section>", 1)[0]
    assert "Cotisation 2026 prélevée deux fois" in card and "New badge" in card and "in progress" in card
    assert "Request open → in progress" in page.text and "Complaint opened (email)" in page.text
