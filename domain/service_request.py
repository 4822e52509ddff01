"""Service requests and complaints: a kind from an administrator's referential (with its service
level: the hours allowed to resolve), and each request's life from open to closed.

A request belongs to a person (and, where it applies, one of their functions); every one of its
events names the person, so the relay can put them on that person's partition of the log.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    RequestClosedError,
    RequestTransitionError,
    RetiredRequestKindError,
    UnknownRequestKindError,
)
from domain.referential import REFERENTIALS

State = Literal["open", "in_progress", "waiting_for_customer", "resolved", "closed"]
STATES: tuple[State, ...] = ("open", "in_progress", "waiting_for_customer", "resolved", "closed")
FINISHED: frozenset[str] = frozenset({"resolved", "closed"})  # the service level no longer runs
# Where a request may go from each state; going back to "open" from resolved or closed is a reopening.
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "waiting_for_customer", "resolved"}),
    "in_progress": frozenset({"waiting_for_customer", "resolved"}),
    "waiting_for_customer": frozenset({"in_progress", "resolved"}),
    "resolved": frozenset({"closed", "open"}),
    "closed": frozenset({"open"}),
}
# Until an administrator decides otherwise (code: label, hours to resolve).
DEFAULT_KINDS: dict[str, tuple[str, int]] = {
    "request": ("Service request", 72),
    "complaint": ("Complaint", 48),
    "question": ("Question", 24),
}
REQUESTS = uuid.UUID("6a1f9c3e-2d47-4b8a-9e51-7c0d3f2b8a64")


def request_id_for(source: str) -> uuid.UUID:
    """The id of a request opened from a provider's message (``sendgrid:<Message-ID>``): the
    provider's retry opens the same request, which the event store refuses to open twice."""
    return uuid.uuid5(REQUESTS, source)


def kind_named(addresses: tuple[str, ...], kinds: set[str], default: str) -> str:
    """The kind of request an email opens: the first of our addresses it was sent to that names a
    kind — ``complaint@...``, or a sub-address ``support+complaint@...`` — else ``default``."""
    for address in addresses:
        local = address.split("@", 1)[0].lower()
        for candidate in (local.partition("+")[2], local):
            if candidate in kinds:
                return candidate
    return default


class RequestKinds(Aggregate):
    """The kinds of service request (code -> label, service level in hours); a retired kind stays
    readable on the requests that have it, and no new request may take it."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return uuid.uuid5(REFERENTIALS, "service-request-kinds")

    @event("Started")
    def __init__(self) -> None:
        self.kinds: dict[str, tuple[str, int]] = dict(DEFAULT_KINDS)
        self.retired: set[str] = set()

    def define_kind(self, code: str, label: str, service_level_hours: int) -> None:
        if self.kinds.get(code) != (label, service_level_hours) or code in self.retired:
            self._defined(code, label, service_level_hours)

    def retire_kind(self, code: str) -> None:
        self.check_known(code)
        if code not in self.retired:
            self._retired(code)

    def open_kinds(self) -> set[str]:
        """The kinds a new request may take."""
        return set(self.kinds) - self.retired

    def check_known(self, code: str) -> None:
        if code not in self.kinds:
            raise UnknownRequestKindError(f"no kind of service request {code!r} in the referential")

    def check_open(self, code: str) -> None:
        """Refused for a kind unknown or retired: a new request may not take it."""
        self.check_known(code)
        if code in self.retired:
            raise RetiredRequestKindError(f"kind of service request {code!r} is retired")

    def due_at(self, code: str, opened_at: datetime) -> datetime:
        """When a request of this kind opened at ``opened_at`` must be resolved; refused for an
        unknown or retired kind."""
        self.check_open(code)
        return opened_at + timedelta(hours=self.kinds[code][1])

    @event("KindDefined")
    def _defined(self, code: str, label: str, service_level_hours: int) -> None:
        self.kinds[code] = (label, service_level_hours)
        self.retired.discard(code)

    @event("KindRetired")
    def _retired(self, code: str) -> None:
        self.retired.add(code)


class ServiceRequest(Aggregate):
    """One request or complaint of a person, from its opening to its closing (and reopenings)."""

    @event("Opened")
    def __init__(
        self,
        person_id: str,
        kind: str,
        channel: str,
        subject: str,
        opened_at: datetime,
        due_at: datetime,
        opened_by: str,
        function_id: str | None = None,
        description: str | None = None,
        source_ref: str | None = None,
    ) -> None:
        self.person_id = person_id
        self.kind = kind
        self.channel = channel
        self.subject = subject
        self.opened_at = opened_at
        self.due_at = due_at
        self.opened_by = opened_by
        self.function_id = function_id
        self.description = description
        self.source_ref = source_ref  # the provider's message it came from, if any
        self.state: str = "open"
        self.assignee: str | None = None
        self.comments: list[tuple[str, str]] = []  # (author, text)
        self.resolved_at: datetime | None = None

    # --- commands -------------------------------------------------------------------------

    def change_state(self, state: str, by: str, at: datetime, reason: str | None = None) -> None:
        """Move to ``state`` at ``at``; asking for the state it is in changes nothing (a retried call)."""
        if state == self.state:
            return
        self.check_transition(state)
        self._state_changed(self.person_id, state, self.state, by, at, reason)

    def assign(self, assignee: str, by: str) -> None:
        self.check_not_closed("assigned")
        if assignee != self.assignee:
            self._assigned(self.person_id, assignee, by)

    def comment(self, author: str, text: str) -> None:
        self.check_not_closed("commented")
        self._commented(self.person_id, author, text)

    # --- guards ---------------------------------------------------------------------------

    def check_transition(self, state: str) -> None:
        if state not in TRANSITIONS.get(self.state, ()):
            allowed = ", ".join(sorted(TRANSITIONS.get(self.state, ()))) or "none"
            raise RequestTransitionError(
                f"a service request cannot go from {self.state} to {state} (from {self.state}: {allowed})"
            )

    def check_not_closed(self, what: str) -> None:
        if self.state == "closed":
            raise RequestClosedError(f"service request {self.id} is closed and cannot be {what}: reopen it first")

    def breached(self, now: datetime) -> bool:
        """Not resolved by its due time: resolved late, or still unresolved past it."""
        return (self.resolved_at or now) > self.due_at if self.state in FINISHED else now > self.due_at

    # --- events (each names the person: the relay keys the log by them) ---------------------

    @event("StateChanged")
    def _state_changed(
        self, person_id: str, state: str, previous: str, by: str, at: datetime, reason: str | None
    ) -> None:
        if state == "resolved":
            self.resolved_at = at
        elif state == "open":
            self.resolved_at = None  # reopened: the service level runs again, from the same due time
        self.state = state

    @event("Assigned")
    def _assigned(self, person_id: str, assignee: str, by: str) -> None:
        self.assignee = assignee

    @event("Commented")
    def _commented(self, person_id: str, author: str, text: str) -> None:
        self.comments.append((author, text))


class PersonRequests(Aggregate):
    """The requests opened for a person: the write side's own index (never published), saved with
    each opening, so that erasing the person erases their requests too."""

    @staticmethod
    def create_id(person_id: str) -> uuid.UUID:
        return uuid.uuid5(REQUESTS, f"person:{person_id}")

    @event("Started")
    def __init__(self, person_id: str) -> None:
        self.person_id = person_id
        self.request_ids: list[str] = []

    def add(self, request_id: uuid.UUID) -> None:
        self._added(str(request_id))

    @event("RequestAdded")
    def _added(self, request_id: str) -> None:
        self.request_ids.append(request_id)
