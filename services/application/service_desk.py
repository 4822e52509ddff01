"""Use cases of the service desk: requests and complaints, and the referential of their kinds.

A mixin of the write side (services/application/crossview.py): each use case loads, acts and saves.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from eventsourcing.application import AggregateNotFoundError

from domain.errors import NotFoundError
from domain.service_request import PersonRequests, RequestKinds, ServiceRequest, kind_named, request_id_for

DEFAULT_KIND = "request"  # what an email opens when the address it was sent to names no kind

if TYPE_CHECKING:
    from services.application.crossview import Crossview as _Base
else:
    _Base = object


class ServiceDesk(_Base):
    def open_service_request(
        self,
        person_id: uuid.UUID,
        kind: str,
        channel: str,
        subject: str,
        opened_by: str,
        function_id: str | None = None,
        description: str | None = None,
        source_ref: str | None = None,
        request_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Open a request for the person (whoever they were joined into), due by the kind's service
        level. With ``request_id`` (derived from a provider's message), opening it again is a retry:
        the request already open is the answer, and nothing is stored twice."""
        if request_id is not None:
            try:
                return self.repository.get(request_id).id
            except AggregateNotFoundError:
                pass
        person = self._as_joined(person_id)
        if function_id is not None:
            person.function(function_id)
        opened_at = datetime.now(UTC)
        due_at = self._request_kinds().due_at(kind, opened_at)
        opening = {
            "person_id": str(person.id),
            "kind": kind,
            "channel": channel,
            "subject": subject,
            "opened_at": opened_at,
            "due_at": due_at,
            "opened_by": opened_by,
            "function_id": function_id,
            "description": description,
            "source_ref": source_ref,
        }
        request = (
            ServiceRequest(**opening)
            if request_id is None
            else ServiceRequest._create(ServiceRequest.Opened, id=request_id, **opening)
        )
        index = self._requests_of(str(person.id))
        index.add(request.id)
        self.save(request, index)
        return request.id

    def request_aggregates_of(self, person_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Every request opened for these people, and their indexes: what erasing them removes."""
        found = []
        for person_id in person_ids:
            try:
                index = self.repository.get(PersonRequests.create_id(str(person_id)))
            except AggregateNotFoundError:
                continue
            found += [index.id, *(uuid.UUID(r) for r in index.request_ids)]
        return found

    def open_from_email(  # the arguments are what an inbound email says
        self,
        person_id: uuid.UUID,
        function_id: str | None,
        provider: str,
        message_id: str,
        recipients: tuple[str, ...],
        subject: str,
        text: str | None,
    ) -> uuid.UUID:
        """A customer's email to one of our addresses opens a request for whoever the sender's address
        led to, attributed to the function that carries it; the kind is the one the address names
        (``complaint@...``, ``support+complaint@...``), else a plain request. The same message posted
        again (a provider's retry) opens nothing more."""
        request_id = request_id_for(f"{provider}:{message_id}")
        try:
            return self.repository.get(request_id).id
        except AggregateNotFoundError:
            pass
        kind = kind_named(recipients, self._request_kinds().open_kinds(), DEFAULT_KIND)
        return self.open_service_request(
            person_id,
            kind,
            "email",
            subject,
            provider,
            function_id=self._held(person_id, function_id),
            description=text,
            source_ref=message_id,
            request_id=request_id,
        )

    def open_from_web(  # the arguments are what a web form says
        self,
        person_id: uuid.UUID,
        function_id: str | None,
        event_id: str,
        kind: str,
        subject: str,
        description: str | None,
    ) -> uuid.UUID:
        """A web form the person submitted (a tracked event); the same event again opens nothing more."""
        return self.open_service_request(
            person_id,
            kind,
            "web",
            subject,
            "segment",
            function_id=self._held(person_id, function_id),
            description=description,
            source_ref=event_id,
            request_id=request_id_for(f"web:{event_id}"),
        )

    def change_request_state(
        self, person_id: uuid.UUID, request_id: uuid.UUID, state: str, by: str, reason: str | None = None
    ) -> None:
        request = self.service_request(person_id, request_id)
        request.change_state(state, by, datetime.now(UTC), reason)
        self.save(request)

    def assign_request(self, person_id: uuid.UUID, request_id: uuid.UUID, assignee: str, by: str) -> None:
        request = self.service_request(person_id, request_id)
        request.assign(assignee, by)
        self.save(request)

    def comment_request(self, person_id: uuid.UUID, request_id: uuid.UUID, author: str, text: str) -> None:
        request = self.service_request(person_id, request_id)
        request.comment(author, text)
        self.save(request)

    def service_request(self, person_id: uuid.UUID, request_id: uuid.UUID) -> ServiceRequest:
        """The request, if it is this person's (or of someone joined with them): another person's
        request is as unknown as a missing one."""
        request = self._get(ServiceRequest, request_id)
        if request.person_id != str(person_id) and self._as_joined(uuid.UUID(request.person_id)).id != (
            self._as_joined(person_id).id
        ):
            raise NotFoundError(f"person {person_id} has no service request {request_id}")
        return request

    def define_request_kind(self, code: str, label: str, service_level_hours: int) -> None:
        kinds = self._request_kinds()
        kinds.define_kind(code, label, service_level_hours)
        self.save(kinds)

    def retire_request_kind(self, code: str) -> None:
        kinds = self._request_kinds()
        kinds.retire_kind(code)
        self.save(kinds)

    def _held(self, person_id: uuid.UUID, function_id: str | None) -> str | None:
        """The function a channel attributed, if the person (as joined) holds it: a request from a
        channel is never refused for what its attribution says."""
        person = self._as_joined(person_id)
        return function_id if function_id in person.functions else None

    def _requests_of(self, person_id: str) -> PersonRequests:
        try:
            return self.repository.get(PersonRequests.create_id(person_id))
        except AggregateNotFoundError:
            return PersonRequests._create(
                PersonRequests.Started, id=PersonRequests.create_id(person_id), person_id=person_id
            )

    def check_request_kind(self, kind: str) -> None:
        """Refused (UnknownRequestKindError, RetiredRequestKindError) for a kind no new request may
        take: asked before a batch that opens requests resolves anyone."""
        self._request_kinds().check_open(kind)

    def _request_kinds(self) -> RequestKinds:
        return self._singleton(RequestKinds)
