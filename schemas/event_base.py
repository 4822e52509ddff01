"""What every event type shares: the topic families and the base of our own payloads."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

INTERACTIONS = "interactions"  # written by channel adapters
DOMAIN = "domain"  # written only by the relay from the event store
AUDIT = "audit"  # written only by the API: who read or changed whose data

Channel = Literal["sms", "email", "web", "call"]
Direction = Literal["inbound", "outbound"]


class EventData(BaseModel):
    """Base of our own event payloads: frozen, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    stream: ClassVar[str]
