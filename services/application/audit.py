"""The audit trail's writing side: every read of a person's data and every change is recorded, on
its own topic, before the API answers. A record that cannot be written stops the request (503):
nothing is disclosed or changed without a trace."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from channels.kafka import Position
from schemas.envelope import CloudEvent
from schemas.events import AccessRecorded
from services.application.auth import Caller

Kind = Literal["read", "change", "export", "erasure"]
SOURCE = "crossview-api"
MAX_SUBJECT = 200  # the envelope's limit; a longer id names nobody anyway


def concerned(path_params: Mapping[str, Any]) -> tuple[str, str]:
    """(concerns, subject) of an operation from its path: a person, an organisation, or what else."""
    if "person_id" in path_params:
        return "person", str(path_params["person_id"])[:MAX_SUBJECT]
    if "organisation_id" in path_params:
        return "organisation", str(path_params["organisation_id"])[:MAX_SUBJECT]
    if "code" in path_params or "attribute" in path_params:
        return "referential", "referential"
    return "directory", "directory"


class Auditor:
    def __init__(self, publish: Callable[[Sequence[CloudEvent]], Awaitable[list[Position]]]) -> None:
        self._publish = publish

    async def record(
        self,
        caller: Caller,
        kind: Kind,
        operation: str,
        method: str,
        path: str,
        client: str | None,
        path_params: Mapping[str, Any],
    ) -> None:
        concerns, subject = concerned(path_params)
        data = AccessRecorded(
            actor=caller.subject[:200],
            roles=sorted(caller.roles),
            via=caller.via,  # type: ignore[arg-type]
            kind=kind,
            operation=operation[:100],
            method=method[:10],
            path=path[:2000],
            client=client[:100] if client else None,
            concerns=concerns,  # type: ignore[arg-type]
        )
        await self._publish(
            [
                CloudEvent(
                    id=str(uuid.uuid4()),
                    source=SOURCE,
                    type=AccessRecorded.event_type,
                    subject=subject,
                    time=datetime.now(UTC),
                    data=data.model_dump(mode="json", exclude_none=True),
                )
            ]
        )
