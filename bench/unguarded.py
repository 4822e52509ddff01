"""`python -m bench.unguarded serve --port N`: `crossview serve` with the door taken off — every
caller let in with every role, nothing audited — for bench/auth.py to measure what the door and
the audit cost; with BENCH_KEEP_DOOR=1 only the audit is taken off. A benchmark's instrument only:
never shipped, never run outside `make bench`."""

from __future__ import annotations

import os
import sys

from fastapi import Request

from services.application.audit import Auditor, PendingAccess
from services.application.auth import Caller, Role
from services.http import access

EVERYONE = Caller(subject="bench", roles=frozenset(Role), via="token")


async def _let_in(self, request: Request) -> Caller:
    return EVERYONE


async def _pass(self, scope, receive, send) -> None:
    await self.app(scope, receive, send)


async def _unrecorded(self, *args, **kwargs) -> None:
    return None


def _kept_already(self, *args, **kwargs) -> PendingAccess:
    """A read's access, neither made nor written: kept as far as the Door and the route can tell."""
    pending = PendingAccess({})
    pending.taken = True
    pending.kept.set_result(None)
    return pending


Auditor.record = _unrecorded  # type: ignore[method-assign]
Auditor.pending = _kept_already  # type: ignore[method-assign]
if os.environ.get("BENCH_KEEP_DOOR") != "1":
    # Before the routes are imported: FastAPI reads a dependency's signature when a route is declared.
    access.Allow.__call__ = _let_in  # type: ignore[method-assign]
    access.Door.__call__ = _pass  # type: ignore[method-assign]

if __name__ == "__main__":
    from services.cli import main

    sys.exit(main())
