"""Any sequence of service desk commands (openings, state changes, assignments, comments, kinds
changed or retired, joins), mixed with interactions: the projected requests equal what the
aggregates hold, whatever the batching and the interleaving of the domain and interactions topics."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.kafka import Position
from channels.memory import MemoryDeadLetters
from domain.errors import DomainError
from domain.service_request import STATES
from projections.memory_store import MemoryStore
from projections.projector import Projector
from projections.service_requests import breached
from schemas.events import SmsInteraction
from services.application.crossview import Crossview
from services.application.relay import MemoryRelayPositions, Relay
from services.demo.data import event
from tests.unit.test_commands_property import TEXT, _arrivals

KINDS = ["request", "complaint", "question", "claim"]

command = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(KINDS), TEXT(min_size=1, max_size=8), st.booleans(), st.booleans()),
    st.tuples(st.just("state"), st.integers(0, 9), st.sampled_from(STATES), st.one_of(st.none(), TEXT(max_size=6))),
    st.tuples(st.just("assign"), st.integers(0, 9), st.sampled_from(["alice", "bob", "team-claims"])),
    st.tuples(st.just("comment"), st.integers(0, 9), TEXT(min_size=1, max_size=8)),
    st.tuples(st.just("kind"), st.sampled_from(KINDS), st.integers(1, 200), st.booleans()),
    st.tuples(st.just("join or separate")),
    st.tuples(st.just("sms")),
)


def run(commands, app: Crossview, person, other, function_id) -> tuple[list[uuid.UUID], list]:
    requests, interactions = [], []
    for step, cmd in enumerate(commands):
        try:
            if cmd[0] == "open":
                _, kind, subject, for_other, on_function = cmd
                requests.append(
                    app.open_service_request(
                        other if for_other else person,
                        kind,
                        "advisor",
                        subject,
                        "alice",
                        function_id=function_id if on_function and not for_other else None,
                    )
                )
            elif cmd[0] == "state" and requests:
                request = app.repository.get(requests[cmd[1] % len(requests)])
                app.change_request_state(uuid.UUID(request.person_id), request.id, cmd[2], "alice", cmd[3])
            elif cmd[0] == "assign" and requests:
                request = app.repository.get(requests[cmd[1] % len(requests)])
                app.assign_request(uuid.UUID(request.person_id), request.id, cmd[2], "alice")
            elif cmd[0] == "comment" and requests:
                request = app.repository.get(requests[cmd[1] % len(requests)])
                app.comment_request(uuid.UUID(request.person_id), request.id, "bob", cmd[2])
            elif cmd[0] == "kind":
                _, kind, hours, retire = cmd
                if retire:
                    app.retire_request_kind(kind)
                else:
                    app.define_request_kind(kind, kind.title(), hours)
            elif cmd[0] == "join or separate":
                if app.repository.get(other).merged_into is None:
                    app.join_people(person, other)
                else:
                    app.separate_people(person, other)
            elif cmd[0] == "sms":
                sms = SmsInteraction(
                    direction="inbound",
                    provider="twilio",
                    provider_id=f"SM{step}",
                    status="received",
                    from_number="+33612345678",
                    to_number="+33140000000",
                )
                interactions.append(
                    event(str(person), sms, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=step), f"sms:{step}")
                )
        except DomainError:
            pass  # refused commands store nothing: the property is about what was accepted
    return requests, interactions


@settings(max_examples=60, deadline=None)
@given(commands=st.lists(command, max_size=30), seed=st.integers(0, 10**6), batch=st.integers(1, 12))
def test_the_projected_requests_of_any_command_sequence_equal_the_aggregates(commands, seed, batch):
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.define_title("TREASURER", "Treasurer")
    organisation = app.register_organisation("Croissance+", "association", "prescriber")
    person = app.register_person("Fabien", "Bellemare")
    function_id = app.assign_function(person, organisation, "TREASURER", datetime(2024, 9, 15).date())
    other = app.resolve_contact_point("email", "tresorier@croissance-plus.example").person_id
    requests, interactions = run(commands, app, person, other, function_id)

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

    now = datetime.now(UTC)
    views = {p: store.person(str(p)) for p in (person, other)}
    held = {r: p for p, view in views.items() for r in view.service_requests}
    assert sorted(held) == sorted(str(r) for r in requests)  # each request in exactly one view
    for request_id in requests:
        request = app.repository.get(request_id)
        assert str(held[str(request_id)]) == request.person_id  # the person it was opened for
        projected = views[held[str(request_id)]].service_requests[str(request_id)]
        assert (projected["kind"], projected["subject"], projected["function_id"]) == (
            request.kind,
            request.subject,
            request.function_id,
        )
        assert (projected["state"], projected["assignee"]) == (request.state, request.assignee)
        assert [(c["author"], c["text"]) for c in projected["comments"]] == request.comments
        assert datetime.fromisoformat(projected["due_at"]) == request.due_at
        resolved_at = projected["resolved_at"] and datetime.fromisoformat(projected["resolved_at"])
        assert resolved_at == request.resolved_at
        assert breached(projected, now) == request.breached(now)
    assert views[person].interactions.get("sms", 0) == len(interactions)
