"""The audit trail: who read or changed whose data, one row an access record, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from projections.facts import Fact
from schemas.events import AccessesRecorded, AccessRecorded


class AuditEntry(NamedTuple):
    event_id: str
    subject: str  # a person id when concerns == "person"
    at: datetime
    actor: str
    roles: tuple[str, ...]
    via: str
    kind: str
    operation: str
    method: str
    path: str
    client: str | None
    concerns: str


def concerns_audit(fact: Fact) -> bool:
    return type(fact.data) in (AccessRecorded, AccessesRecorded)


def audit_entries(fact: Fact) -> list[AuditEntry]:
    """The trail's rows of one audit event: one access, or a group of them."""
    if type(fact.data) is AccessRecorded:
        return [audit_entry(fact)]
    data: AccessesRecorded = fact.data  # type: ignore[assignment]
    return [
        AuditEntry(
            a.id,
            a.subject,
            a.at,
            a.actor,
            tuple(a.roles),
            a.via,
            a.kind,
            a.operation,
            a.method,
            a.path,
            a.client,
            a.concerns,
        )
        for a in data.accesses
    ]


def audit_entry(fact: Fact) -> AuditEntry:
    data: AccessRecorded = fact.data  # type: ignore[assignment]
    return AuditEntry(
        fact.event_id,
        fact.subject,
        fact.time,
        data.actor,
        tuple(data.roles),
        data.via,
        data.kind,
        data.operation,
        data.method,
        data.path,
        data.client,
        data.concerns,
    )
