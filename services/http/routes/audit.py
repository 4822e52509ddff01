"""Who saw and changed a person: the audit trail, for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from schemas.api import AuditEntryOut, AuditOut
from services.http.access import AsAdmin
from services.http.deps import App, Fresh

FAMILY_DEPTH = 20  # joins into joins: as deep as family_of follows them

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
    from where, newest first, those made through the ids of people joined into them included (a
    read of a joined id shows the person it was joined into). This read is recorded too."""
    entries = crossview.store.audit_of(ids_of_family(crossview.store, person_id), limit)
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


def ids_of_family(store, person_id: str) -> list[str]:
    """The person's id and the ids of everyone joined into them, at any depth (erased or not: the
    trail of an erased person still answers)."""
    ids, pending = [person_id], [person_id]
    for _ in range(FAMILY_DEPTH):
        found = [absorbed for view in store.persons(pending).values() for absorbed in view.absorbed]
        pending = [i for i in found if i not in ids]
        if not pending:
            break
        ids += pending
    return ids
