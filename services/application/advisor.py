"""The advisor's own records, as events on the log like any channel's: a note (or a call's outcome)
and a consent change the customer asked for (``no more SMS`` on this number). They go where the
providers' interactions go (sealed, then the interactions topic), so the timeline, the counts and
reachability read them as they read everything else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from schemas.envelope import CloudEvent
from schemas.events import CallInteraction, EmailInteraction, EventData, SmsInteraction

ADVISOR_PROVIDER = "crossview"  # the provider of what advisors record themselves
SOURCE = "crossview/console"


def _event(person_id: str, data: EventData) -> CloudEvent:
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=SOURCE,
        type=data.event_type,
        subject=person_id,
        time=datetime.now(UTC),
        data=data.model_dump(mode="json", exclude_none=True),
    )


def note(person_id: str, advisor: str, text: str, outcome: str | None, function_id: str | None) -> CloudEvent:
    """A note on the person (a call's outcome when ``outcome`` is given), written by ``advisor``."""
    return _event(
        person_id,
        CallInteraction(
            direction="outbound",
            provider=ADVISOR_PROVIDER,
            provider_id=f"note-{uuid.uuid4()}",
            status="note",
            canonical_status="note",
            from_number=f"advisor:{advisor}"[:40],
            to_number="customer",
            outcome=outcome,
            notes=text,
            function_id=function_id,
        ),
    )


def consent(
    person_id: str, advisor: str, channel: Literal["sms", "email"], address: str, reachable: bool, reason: str
) -> CloudEvent:
    """The customer's own word on a contact point, as the advisor heard it."""
    status = "resubscribed" if reachable else "unsubscribed"
    said = f"{reason} (recorded by {advisor})"
    common = {
        "direction": "inbound",
        "provider": ADVISOR_PROVIDER,
        "provider_id": f"consent-{uuid.uuid4()}",
        "status": status,
        "canonical_status": status,
    }
    if channel == "sms":
        return _event(person_id, SmsInteraction(**common, from_number=address, to_number="advisor", body=said))
    return _event(person_id, EmailInteraction(**common, address=address, subject_line=said))
