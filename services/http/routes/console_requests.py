"""The person page's service desk: the person's requests and complaints as
``GET /v1/persons/{id}/service-requests`` lists them (open ones first, the most urgent first, with
``breached`` judged now), each with its comments and the moves its state allows, and the kinds an
advisor may open one of. The page's buttons then call the JSON API (routes/service_requests.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.service_request import TRANSITIONS
from projections.person_document import now
from projections.person_model import PersonView, merge_views
from projections.service_requests import FINISHED_SHOWN, listed

# What each move is called on a button, in the order they are offered.
MOVES = {
    "in_progress": "Take in progress",
    "waiting_for_customer": "Wait for the customer",
    "resolved": "Resolve",
    "closed": "Close",
    "open": "Reopen",
}
# The channel an advisor says the customer used; "advisor" is the console itself.
CHANNELS = {"advisor": "Advisor (this console)", "call": "Call", "email": "Email", "sms": "SMS", "web": "Web"}
TIMES = ("opened_at", "due_at", "resolved_at", "closed_at", "updated_at")


def service_desk(crossview, view: PersonView, absorbed: list[PersonView]) -> dict[str, Any]:
    """The page's context: ``requests`` to show, how many are open, overdue and left out, and the
    ``request_kinds`` still offered (a retired kind opens nothing)."""
    merged = merge_views(view, absorbed) if absorbed else view
    everything = dict(merged.service_requests)
    at = now()
    rows = listed(everything.values(), at)
    shown = listed(everything.values(), at, FINISHED_SHOWN)
    kinds = crossview.store.request_kinds()
    return {
        "requests": [_shown(row, everything[row["request_id"]]) for row in shown],
        "requests_open": sum(1 for r in rows if r["state"] not in ("resolved", "closed")),
        "requests_breached": sum(1 for r in rows if r["breached"]),
        "requests_left_out": len(rows) - len(shown),
        "request_kinds": [{"code": code, **kind} for code, kind in sorted(kinds.items()) if not kind["retired"]],
        "request_channels": CHANNELS,
    }


def _shown(row: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    moves = TRANSITIONS.get(row["state"], frozenset())
    return {
        **row,
        **{name: _instant(row.get(name)) for name in TIMES},
        "description": request.get("description"),
        "comments": [{**c, "at": _instant(c["at"])} for c in request["comments"]],
        "moves": [(state, label) for state, label in MOVES.items() if state in moves],
        "closed": row["state"] == "closed",  # a closed request takes no comment nor assignment
    }


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
