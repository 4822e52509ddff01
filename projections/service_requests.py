"""A person's service requests and complaints in their view: the pure fold of the requests' events,
and how the 360° view lists them (open ones first, most urgent first). No I/O.

One request's events come from one aggregate and share its person's partition, so they arrive in
the order they were stored; requests are independent of each other and of everything else the
person's view holds, so the result is the same whatever the batching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from projections.facts import Fact
from schemas.events import (
    ServiceRequestAssigned,
    ServiceRequestCommented,
    ServiceRequestOpened,
    ServiceRequestStateChanged,
    models_of,
)

REQUEST_EVENTS = (ServiceRequestOpened, ServiceRequestStateChanged, ServiceRequestAssigned, ServiceRequestCommented)
REQUEST_MODELS = models_of(*REQUEST_EVENTS)
FINISHED = frozenset({"resolved", "closed"})
FINISHED_SHOWN = 20  # resolved and closed requests a 360° view lists after the open ones (the list has all)


def apply_request(requests: dict[str, dict[str, Any]], fact: Fact) -> None:
    """Fold one request event into ``requests`` (request id -> its state, JSON-ready), in place."""
    data = fact.data
    at = fact.time.isoformat()
    if isinstance(data, ServiceRequestOpened):
        requests[data.request_id] = {
            "request_id": data.request_id,
            "kind": data.kind,
            "channel": data.channel,
            "subject": data.subject,
            "description": data.description,
            "function_id": data.function_id,
            "opened_by": data.opened_by,
            "opened_at": data.opened_at.isoformat(),
            "due_at": data.due_at.isoformat(),
            "state": "open",
            "assignee": None,
            "resolved_at": None,
            "closed_at": None,
            "reopened": 0,
            "comments": [],
            "updated_at": at,
        }
        return
    request = dict(requests.get(data.request_id) or _unknown(data.request_id))
    if isinstance(data, ServiceRequestStateChanged):
        request["state"] = data.state
        if data.state == "resolved":
            request["resolved_at"] = data.at.isoformat()
        elif data.state == "closed":
            request["closed_at"] = data.at.isoformat()
        elif data.state == "open":  # reopened: the service level runs again, to the same due time
            request["resolved_at"] = request["closed_at"] = None
            request["reopened"] = request["reopened"] + 1
    elif isinstance(data, ServiceRequestAssigned):
        request["assignee"] = data.assignee
    elif isinstance(data, ServiceRequestCommented):
        request["comments"] = [*request["comments"], {"author": data.author, "text": data.text, "at": at}]
    request["updated_at"] = at
    requests[data.request_id] = request


def _unknown(request_id: str) -> dict[str, Any]:
    """A request whose opening this view never saw (an event replayed alone, or dead-lettered)."""
    return {
        "request_id": request_id,
        "kind": None,
        "channel": None,
        "subject": None,
        "description": None,
        "function_id": None,
        "opened_by": None,
        "opened_at": None,
        "due_at": None,
        "state": "open",
        "assignee": None,
        "resolved_at": None,
        "closed_at": None,
        "reopened": 0,
        "comments": [],
        "updated_at": None,
    }


def breached(request: Mapping[str, Any], now: datetime) -> bool:
    """Not resolved by its due time: resolved (or closed) late, or still unresolved past it."""
    due = request.get("due_at")
    if due is None:
        return False
    if request["state"] in FINISHED:
        done = request.get("resolved_at") or request.get("closed_at")
        return done is not None and datetime.fromisoformat(done) > datetime.fromisoformat(due)
    return now > datetime.fromisoformat(due)


def listed(requests: Iterable[Mapping[str, Any]], now: datetime, finished_shown: int | None = None) -> list[dict]:
    """The requests as an advisor reads them: open ones first, the most urgent (earliest due)
    first; then resolved and closed ones, the latest first (``finished_shown`` of them at most).
    Each with ``breached`` as of ``now`` and its number of comments."""
    requests = list(requests)
    unresolved = sorted(
        (r for r in requests if r["state"] not in FINISHED), key=lambda r: (r["due_at"] or "", r["request_id"])
    )
    finished = sorted(
        (r for r in requests if r["state"] in FINISHED),
        key=lambda r: (r["updated_at"] or "", r["request_id"]),
        reverse=True,
    )
    if finished_shown is not None:
        finished = finished[:finished_shown]
    return [
        {
            **{k: v for k, v in r.items() if k != "comments"},
            "comments": len(r["comments"]),
            "breached": breached(r, now),
        }
        for r in (*unresolved, *finished)
    ]


def next_change(requests: Iterable[Mapping[str, Any]], day: date) -> tuple[date | None, bool]:
    """For a document made on ``day``: the first later day an unresolved request falls due (its
    breached flag turns then), and whether one falls due on ``day`` itself (the flag turns during
    the day, so no document made that day holds: the views answer, to the second)."""
    later, today = None, False
    for request in requests:
        if request["state"] in FINISHED or request.get("due_at") is None:
            continue
        due = datetime.fromisoformat(request["due_at"]).date()
        if due == day:
            today = True
        elif due > day and (later is None or due < later):
            later = due
    return later, today
