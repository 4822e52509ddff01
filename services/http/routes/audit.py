"""Who saw and changed a person: the audit trail, for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from schemas.api import AuditEntryOut, AuditOut
from services.http.access import AsAdmin
from services.http.deps import App, Fresh

router = APIRouter(tags=["audit"])


@router.get("/v1/persons/{person_id}/audit", response_model=AuditOut)
def person_audit(
    crossview: App,
    caller: AsAdmin,
    person_id: str,
    freshness: Fresh,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AuditOut:
    """Every read of the person's data and every change of it: who, with which roles, what, when and
    from where, newest first. This read is recorded too."""
    entries = crossview.store.audit_of(person_id, limit)
    return AuditOut(
        person_id=person_id,
        entries=[
            AuditEntryOut(
                at=e.at,
                actor=e.actor,
                roles=list(e.roles),
                via=e.via,
                kind=e.kind,
                operation=e.operation,
                method=e.method,
                path=e.path,
                client=e.client,
            )
            for e in entries
        ],
        freshness=freshness,
    )
