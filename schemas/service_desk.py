"""HTTP contracts of the service desk: service requests and complaints, and the kinds referential."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import RequestChannel, RequestState


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceRequestSummary(_Model):
    """One of the person's requests as the 360° view lists it: open ones first (the earliest due
    first), then resolved and closed ones, the latest first."""

    request_id: str
    kind: str | None
    channel: RequestChannel | None = Field(description="The channel the request came through.")
    subject: str | None
    function_id: str | None = Field(description="The function it concerns, if one.")
    state: RequestState
    assignee: str | None
    opened_at: datetime | None
    due_at: datetime | None = Field(description="When it must be resolved: opened_at plus the kind's service level.")
    resolved_at: datetime | None
    closed_at: datetime | None
    breached: bool = Field(
        description="Not resolved by its due time: still unresolved past it (as of the answer), or resolved late."
    )
    reopened: int = Field(description="How many times it was reopened.")
    comments: int = Field(description="How many comments it has.")
    updated_at: datetime | None


class ServiceRequestIn(_Model):
    kind: str = Field(min_length=1, max_length=100, description="A kind of the referential (request, complaint...).")
    subject: str = Field(min_length=1, max_length=1000)
    description: str | None = Field(None, max_length=10_000)
    function_id: str | None = Field(None, max_length=200, description="The person's function it concerns, if one.")
    channel: RequestChannel = Field("advisor", description="The channel the customer used.")


class RequestStateIn(_Model):
    state: RequestState = Field(
        description="in_progress, waiting_for_customer, resolved, closed; open again from resolved or closed."
    )
    reason: str | None = Field(None, max_length=2000, description="Why (the resolution, the reason to reopen...).")


class AssigneeIn(_Model):
    assignee: str = Field(min_length=1, max_length=200, description="The advisor or team now in charge.")


class CommentIn(_Model):
    text: str = Field(min_length=1, max_length=10_000)


class NoteServiceRequestIn(_Model):
    """A request opened from an advisor's note: its kind and subject; the note is its description."""

    kind: str = Field(min_length=1, max_length=100)
    subject: str = Field(min_length=1, max_length=1000)
    channel: RequestChannel = Field("call", description="The channel the customer used (a call, by default).")


class RequestKindIn(_Model):
    label: str = Field(min_length=1, max_length=300)
    service_level_hours: int = Field(ge=1, le=24 * 366, description="Hours allowed to resolve a request of this kind.")


class RequestKindOut(_Model):
    code: str
    label: str
    service_level_hours: int
    retired: bool


class RequestKindsOut(_Model):
    kinds: list[RequestKindOut]


class OpenedOut(_Model):
    """A request opened from another channel's message (a note, an email, a web form)."""

    request_id: str
    due_at: datetime | None = None
    origin: Literal["note", "email", "web"]
