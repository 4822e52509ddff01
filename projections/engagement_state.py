"""The folded state of a person's journeys, campaigns received and answers to offers: pure, and the
same whatever the batching and the interleaving (maxima, minima and unions), so a fact seen twice
changes nothing. What the 360° view shows of them is projections/engagement.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.events import Interaction
from schemas.journey_events import (
    JourneyAbandoned,
    JourneyCompleted,
    JourneyFact,
    JourneyStepReached,
    OfferAccepted,
    OfferAnswered,
)

State = dict[str, Any]


def _utc(at: datetime) -> str:
    """In UTC: stored times compare as text, whatever offset their events were written with."""
    return at.astimezone(UTC).isoformat()


def journey_key(journey_id: str) -> str:
    """Journeys are named case-insensitively: a customer types an SMS reply's reference as they like."""
    return journey_id.casefold()


def fold_journey(state: Mapping[str, Any] | None, data: JourneyFact, at: datetime, event_id: str) -> State:
    """The journey after one more fact (commutative and idempotent: see the module's docstring)."""
    kind = (
        "completed"
        if isinstance(data, JourneyCompleted)
        else "abandoned"
        if isinstance(data, JourneyAbandoned)
        else "step"
    )
    step = data.step if isinstance(data, JourneyStepReached) else None
    fact = {
        "at": _utc(at),
        "event_id": event_id,
        "kind": kind,
        "step": step,
        "step_name": data.step_name if isinstance(data, JourneyStepReached) else None,
        "channel": data.channel,
        "function_id": data.function_id,
        "reason": data.reason if isinstance(data, JourneyAbandoned) else None,
    }
    one: State = {
        "journey_id": data.journey_id,
        "journey_type": [fact["at"], event_id, data.journey_type] if data.journey_type else None,
        "started_at": fact["at"],
        "latest": fact,
        "max_step": step or 0,
        "step_count": data.step_count if isinstance(data, JourneyStepReached) else None,
        "names": {str(step): [fact["at"], event_id, fact["step_name"]]} if step and fact["step_name"] else {},
        "channels": [data.channel],
    }
    return merge_journey(state, one)


def merge_journey(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> State:
    """Two states of one journey as one (a fold step, or two people joined)."""
    if a is None:
        return dict(b)
    names = dict(a["names"])
    for step, named in b["names"].items():
        if step not in names or named[:2] > names[step][:2]:
            names[step] = named
    types = [t for t in (a["journey_type"], b["journey_type"]) if t]
    counts = [c for c in (a["step_count"], b["step_count"]) if c]
    return {
        "journey_id": min(a["journey_id"], b["journey_id"]),
        "journey_type": min(types, key=lambda t: t[:2]) if types else None,  # as first named
        "started_at": min(a["started_at"], b["started_at"]),
        "latest": max(a["latest"], b["latest"], key=lambda f: (f["at"], f["event_id"])),
        "max_step": max(a["max_step"], b["max_step"]),
        "step_count": max(counts) if counts else None,
        "names": names,
        "channels": sorted(set(a["channels"]) | set(b["channels"])),
    }


def fold_campaign(received: Mapping[str, Any] | None, data: Interaction, at: datetime, event_id: str) -> State:
    """The first receipt of a campaign's message (its offers are the person's from then on)."""
    mine = {"campaign": data.campaign, "channel": data.channel, "at": _utc(at), "event_id": event_id}
    if received is None or (mine["at"], event_id) < (received["at"], received["event_id"]):
        return mine
    return dict(received)


def fold_answer(known: Mapping[str, Any] | None, data: OfferAnswered, at: datetime, event_id: str) -> State:
    mine = {
        "answer": "accepted" if isinstance(data, OfferAccepted) else "declined",
        "channel": data.channel,
        "at": _utc(at),
        "event_id": event_id,
    }
    if known is None or (mine["at"], event_id) > (known["at"], known["event_id"]):
        return mine
    return dict(known)


def merge_keyed(views: Iterable[Mapping[str, Mapping[str, Any]]], pick) -> dict[str, Any]:
    """Maps of several joined people as one; ``pick(a, b)`` chooses between two entries of a key."""
    merged: dict[str, Any] = {}
    for view in views:
        for key, value in view.items():
            merged[key] = value if key not in merged else pick(merged[key], value)
    return merged


def earliest(a: Mapping[str, Any], b: Mapping[str, Any]) -> Mapping[str, Any]:
    return min(a, b, key=lambda x: (x["at"], x["event_id"]))


def latest(a: Mapping[str, Any], b: Mapping[str, Any]) -> Mapping[str, Any]:
    return max(a, b, key=lambda x: (x["at"], x["event_id"]))
