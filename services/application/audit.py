"""The audit trail's writing side: every read of a person's data and every change is recorded
durably before the API answers, and reaches its own topic. A record that cannot be kept stops the
request (503): nothing is disclosed or changed without a trace.

Records are kept in groups: while one group is on its way, the records of the requests that
arrive meanwhile wait together and leave as the next group. A lone request's record leaves at
once; under load one durable write serves many requests. Where a group is kept is the
deployment's choice (``Keep``): with the real services, a PostgreSQL outbox that a relay carries
to the audit topic (services/adapters/audit_outbox.py); in the embedded default, the log itself."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from channels.kafka import Position
from schemas.envelope import CloudEvent
from schemas.events import AccessesRecorded, RecordedAccess
from services.application.auth import Caller

Kind = Literal["read", "change", "export", "erasure"]
SOURCE = "crossview-api"
MAX_SUBJECT = 200  # the envelope's limit; a longer id names nobody anyway
MAX_ROUNDS = 4  # groups on their way at once: a record waits for one durable write, not for two
MAX_GROUP = 100  # accesses in one event: at most ~7 KB each, well under a Kafka record's 1 MiB


_bits = random.Random()  # seeded by the OS: an access id must be unique, not secret


def ordered_id() -> str:
    """A UUIDv7 (RFC 9562): the time in milliseconds, then 74 random bits. Accesses are the trail's
    rows, keyed by this id: a new one goes to the end of the key's index rather than anywhere in
    it (an index of millions, mostly out of memory), and no system call is made for it (uuid4's
    read of the OS's randomness let the relay's threads take the interpreter, on every read)."""
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | _bits.getrandbits(12) << 64 | 0b10 << 62
    value |= _bits.getrandbits(62)
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


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
        "id": ordered_id(),
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


Keep = Callable[[list[dict[str, Any]]], Awaitable[None]]  # a group of accesses, durable once it returns


def access_events(process: str, accesses: Sequence[dict[str, Any]]) -> list[CloudEvent]:
    """The audit topic's events of ``accesses`` (``access()``'s records): ``AccessesRecorded``
    groups of at most MAX_GROUP, each keyed by the process that recorded it."""
    return [
        CloudEvent.model_construct(  # its parts are made here, within the contract (tests check)
            specversion="1.0",
            id=str(uuid.uuid4()),
            source=SOURCE,
            type=AccessesRecorded.event_type,
            subject=process,
            time=datetime.now(UTC),
            datacontenttype="application/json",
            data={"accesses": list(accesses[start : start + MAX_GROUP])},
        )
        for start in range(0, len(accesses), MAX_GROUP)
    ]


def published(publish: Callable[[Sequence[CloudEvent]], Awaitable[list[Position]]], process: str | None = None) -> Keep:
    """Keep groups by publishing them straight to the log (the embedded default's way)."""
    process = process or f"api-{uuid.uuid4()}"

    async def keep(accesses: list[dict[str, Any]]) -> None:
        await publish(access_events(process, accesses))

    return keep


class PendingAccess:
    """A read's access record, made (and checked) when the caller is admitted, and kept one of two
    ways before the answer leaves: in the read's own statement, when the route claims it
    (``Auditor.riding``), or in the Auditor's next round. ``kept`` says when it is."""

    __slots__ = ("record", "kept", "taken")

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.kept: asyncio.Future = asyncio.get_running_loop().create_future()
        self.taken = False  # claimed by a route or handed to a round: kept one way only


class Auditor:
    def __init__(self, keep: Keep, ride: Callable[[str], Any] | None = None) -> None:
        """``keep`` keeps a group of accesses; ``ride``, where the store can, makes of one access
        (its JSON) a write that a read's own statement carries (services/adapters/audit_outbox.py):
        the access is then kept in the read's round trip, with no round of its own."""
        self._keep = keep
        self._ride = ride
        self._waiting: list[PendingAccess] = []
        self._sending = 0  # senders looping: counted down in the step that finds nothing waiting
        self._senders: set[asyncio.Future] = set()

    def pending(  # noqa: PLR0913 - one field an argument, as the record has them
        self,
        caller: Caller,
        kind: Kind,
        operation: str,
        method: str,
        path: str,
        client: str | None,
        path_params: Mapping[str, Any],
    ) -> PendingAccess:
        """The access, made and checked; ValidationError if this request's record breaks the
        contract (it alone fails: a group is never refused for one bad record)."""
        record = access(caller, kind, operation, method, path, client, path_params, datetime.now(UTC))
        RecordedAccess.model_validate(record)
        return PendingAccess(record)

    def submit(self, pending: PendingAccess) -> None:
        """Keep ``pending`` in the next round, unless it is kept another way already."""
        if pending.taken:
            return
        pending.taken = True
        self._waiting.append(pending)
        if self._sending < MAX_ROUNDS:  # else a sender on its way takes it in its next round
            self._sending += 1
            sender = asyncio.ensure_future(self._send_groups())
            self._senders.add(sender)  # held: the loop keeps only a weak reference to a task
            sender.add_done_callback(self._senders.discard)

    @contextmanager
    def riding(self, pending: PendingAccess | None) -> Iterator[Any]:
        """The write that keeps ``pending`` within the read made inside the block (None: nothing to
        carry; it is kept by a round). The read's success keeps it; its failure fails it."""
        if pending is None or pending.taken or self._ride is None:
            yield None
            return
        pending.taken = True
        try:
            yield self._ride(json.dumps(pending.record, ensure_ascii=False))
        except BaseException as error:
            if not pending.kept.done():
                pending.kept.set_exception(error if isinstance(error, Exception) else RuntimeError("cancelled"))
            raise
        if not pending.kept.done():
            pending.kept.set_result(None)

    async def record(self, *fields: Any) -> None:
        """Keeps an access of ``fields`` (as ``pending`` takes them) in the next round and returns
        once it is kept; raises what keeping it raised if it was not, or ValidationError if this
        request's record breaks the contract."""
        pending = self.pending(*fields)
        self.submit(pending)
        await pending.kept

    async def _send_groups(self) -> None:
        """Keep everything that waits, in one round, until nothing does: a round lasts one durable
        write, or one timeout when the store is away, so no record waits longer than two. Up to
        MAX_ROUNDS senders loop at once."""
        try:
            while self._waiting:
                round_, self._waiting = self._waiting, []
                try:
                    await self._keep([pending.record for pending in round_])
                except Exception as error:  # every request of the round learns it, none is answered 2xx
                    for pending in round_:
                        if not pending.kept.done():
                            pending.kept.set_exception(error)
                else:
                    for pending in round_:
                        if not pending.kept.done():
                            pending.kept.set_result(None)
        finally:
            self._sending -= 1
