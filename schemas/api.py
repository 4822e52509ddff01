"""HTTP contracts of the query and ingest API (response bodies and problem details)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Freshness(ApiModel):
    position: dict[str, int] = Field(
        description="Next offset per 'topic:partition' that this answer reflects (every event before it is in)."
    )
    caught_up: bool = Field(
        description="False when min_position was asked for and the view had not reached it within wait_ms."
    )


class LastInteractionOut(ApiModel):
    event_id: str
    channel: str
    direction: str
    status: str
    provider: str
    at: datetime


class PersonViewOut(ApiModel):
    """A person's live view: identity, interactions per channel, the latest interaction."""

    person_id: str
    given_name: str | None
    family_name: str | None
    registered_at: datetime | None
    interactions: dict[str, int] = Field(description="Number of interactions per channel (sms, email, web, call).")
    events_applied: int
    last_interaction: LastInteractionOut | None
    last_event_at: datetime | None
    freshness: Freshness


class TimelineEntryOut(ApiModel):
    event_id: str
    event_type: str
    channel: str | None
    occurred_at: datetime
    data: dict[str, Any]
    position: str = Field(description="topic:partition:offset of the event in the log.")


class TimelineOut(ApiModel):
    """One page of a person's timeline, newest first."""

    person_id: str
    entries: list[TimelineEntryOut]
    next_page: str | None = Field(description="Pass as `before` to get the next (older) page; null on the last.")
    freshness: Freshness


class Accepted(ApiModel):
    """Events durably accepted: the broker acknowledged every one."""

    accepted: int
    ids: list[str]
    positions: list[str] = Field(
        description="topic:partition:offset of each event; give one as min_position to read your write."
    )


class Problem(ApiModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None
