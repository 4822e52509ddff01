"""HTTP contract of the service desk's queue across people (GET /v1/service-requests)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.api import ApiModel, Freshness
from schemas.events import RequestChannel, RequestState


class QueuedRequest(ApiModel):
    """One request in the queue, with whose it is: open the person to work on it."""

    person_id: str = Field(description="The person it is for (the one they were joined into, if they were).")
    request_id: str
    kind: str | None
    channel: RequestChannel | None = Field(description="The channel the request came through.")
    subject: str | None
    function_id: str | None = Field(description="The person's function it concerns, if one.")
    state: RequestState
    assignee: str | None
    opened_at: datetime | None
    due_at: datetime | None = Field(description="When it must be resolved: opened_at plus the kind's service level.")
    breached: bool = Field(
        description="Not resolved by its due time: still unresolved past it (as of `as_of`), or resolved late."
    )


class RequestQueueOut(ApiModel):
    service_requests: list[QueuedRequest] = Field(description="Breached ones first, then the earliest due first.")
    as_of: datetime = Field(description="The instant breaches are judged at: the first page's, kept by the next ones.")
    next_page: str | None = Field(description="Pass as `after` for the next page; null on the last one.")
    freshness: Freshness
