"""The audit trail's writing side: every read of a person's data and every change is recorded, on
its own topic, before the API answers. A record that cannot be written stops the request (503):
nothing is disclosed or changed without a trace.

Records are committed in groups: while one group is on its way to Kafka, the records of the
requests that arrive meanwhile wait together and leave as the next event (``AccessesRecorded``).
A lone request is sent at once; under load one acknowledged send serves many requests, where a
send each cost a fifth of a 360° answer (BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from channels.kafka import Position
from schemas.envelope import CloudEvent
from schemas.events import AccessesRecorded, RecordedAccess
from services.application.auth import Caller

Kind = Literal["read", "change", "export", "erasure"]
SOURCE = "crossview-api"
MAX_SUBJECT = 200  # the envelope's limit; a longer id names nobody anyway
MAX_ROUNDS = 4  # groups on their way to Kafka at once: a record waits for one acknowledgement, not for two
MAX_GROUP = 100  # accesses in one event: at most ~7 KB each, well under a Kafka record's 1 MiB


def concerned(path_params: Mapping[str, Any]) -> tuple[str, str]:
    """(concerns, subject) of an operation from its path: a person, an organisation, or what else."""
    if "person_id" in path_params:
        return "person", str(path_params["person_id"])[:MAX_SUBJECT]
    if "organisation_id" in path_params:
        return "organisation", str(path_params["organisation_id"])[:MAX_SUBJECT]
    if "code" in path_params or "attribute" in path_params:
        return "referential", "referential"
    return "directory", "directory"


def access(  # noqa: PLR0913 - one field an argument, as the record has them
    caller: Caller,
    kind: Kind,
    operation: str,
    method: str,
    path: str,
    client: str | None,
    path_params: Mapping[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """One access as ``RecordedAccess`` has it (JSON-ready), within the contract's limits."""
    concerns, subject = concerned(path_params)
    record = {
        "id": str(uuid.uuid4()),
        "subject": subject,
        "at": at.isoformat().replace("+00:00", "Z"),
        "actor": caller.subject[:200],
        "roles": sorted(caller.roles),
        "via": caller.via,
        "kind": kind,
        "operation": operation[:100],
        "method": method[:10],
        "path": path[:2000],
        "concerns": concerns,
    }
    if client:
        record["client"] = client[:100]
    return record


class Auditor:
    def __init__(
        self, publish: Callable[[Sequence[CloudEvent]], Awaitable[list[Position]]], process: str | None = None
    ) -> None:
        self._publish = publish
        self._process = process or f"api-{uuid.uuid4()}"  # the subject (and Kafka key) of its groups
        self._waiting: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._sending = 0  # senders looping: counted down in the step that finds nothing waiting
        self._senders: set[asyncio.Future] = set()

    async def record(  # noqa: PLR0913 - one field an argument, as the record has them
        self,
        caller: Caller,
        kind: Kind,
        operation: str,
        method: str,
        path: str,
        client: str | None,
        path_params: Mapping[str, Any],
    ) -> None:
        """Returns once Kafka acknowledged the record; raises what the publisher raised if it did
        not, or ValidationError if this request's record breaks the contract (it alone fails: a
        group is never refused for one bad record)."""
        record = access(caller, kind, operation, method, path, client, path_params, datetime.now(UTC))
        RecordedAccess.model_validate(record)
        acknowledged = asyncio.get_running_loop().create_future()
        self._waiting.append((record, acknowledged))
        if self._sending < MAX_ROUNDS:  # else a sender on its way takes it in its next round
            self._sending += 1
            sender = asyncio.ensure_future(self._send_groups())
            self._senders.add(sender)  # held: the loop keeps only a weak reference to a task
            sender.add_done_callback(self._senders.discard)
        await acknowledged

    async def _send_groups(self) -> None:
        """Send everything that waits, in one round (as many events as it takes), until nothing
        does: a round lasts one acknowledgement, or one ack timeout when the broker is away, so no
        record waits longer than two. Up to MAX_ROUNDS senders loop at once."""
        try:
            while self._waiting:
                round_, self._waiting = self._waiting, []
                events = [
                    self._event([record for record, _ in round_[start : start + MAX_GROUP]])
                    for start in range(0, len(round_), MAX_GROUP)
                ]
                try:
                    await self._publish(events)
                except Exception as error:  # every request of the round learns it, none is answered 2xx
                    for _, acknowledged in round_:
                        if not acknowledged.done():
                            acknowledged.set_exception(error)
                else:
                    for _, acknowledged in round_:
                        if not acknowledged.done():
                            acknowledged.set_result(None)
        finally:
            self._sending -= 1

    def _event(self, accesses: list[dict[str, Any]]) -> CloudEvent:
        return CloudEvent.model_construct(  # its parts are made above, within the contract (tests check)
            specversion="1.0",
            id=str(uuid.uuid4()),
            source=SOURCE,
            type=AccessesRecorded.event_type,
            subject=self._process,
            time=datetime.now(UTC),
            datacontenttype="application/json",
            data={"accesses": accesses},
        )
