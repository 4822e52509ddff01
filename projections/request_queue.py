"""The service desk's queue across people: one row per service request, whoever's it is, so a
customer-service lead sees what is breached and what falls due next without opening anyone.

The rows are what the person views hold (projections/service_requests.py folds them): the projector
writes a person's rows again whenever their requests change (or they are joined, separated or
erased), in the transaction that saves their view. This module is pure: the rows of a view, the
query, and the order — breached first, then the earliest due — that both stores answer in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, get_args

from projections.person_model import PersonView
from projections.service_requests import FINISHED
from schemas.events import RequestState

STATES: tuple[str, ...] = get_args(RequestState)
NOT_CLOSED = tuple(state for state in STATES if state != "closed")  # what the queue shows unless asked otherwise
NEVER_DUE = datetime.max.replace(tzinfo=UTC)  # a request whose opening was never seen sorts last


class QueueRow(NamedTuple):
    request_id: str
    holder_id: str  # the person whose view holds it (whose events carry it): rewrites and erasure go by them
    person_id: str  # whom an advisor opens: the holder, or the person they were joined into
    kind: str | None
    channel: str | None
    subject: str | None
    function_id: str | None
    state: str
    assignee: str | None
    opened_at: datetime | None
    due_at: datetime | None
    done_at: datetime | None  # when it was resolved (else closed), while it is resolved or closed

    def breached(self, at: datetime) -> bool:
        """As service_requests.breached: resolved or closed late, or unresolved past its due time at ``at``."""
        if self.due_at is None:
            return False
        if self.done_at is not None:
            return self.done_at > self.due_at
        return self.state not in FINISHED and at > self.due_at

    def key(self, at: datetime) -> QueueKey:
        return QueueKey(not self.breached(at), self.due_at or NEVER_DUE, self.request_id)


class QueueKey(NamedTuple):
    """Where a row sits in the queue at an instant: breached ones (False) first, then by due time."""

    on_time: bool
    due_at: datetime
    request_id: str


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _text(value: str | None) -> str | None:
    """The text as a database column can hold it: a NUL or a lone surrogate (which the views keep,
    escaped in their JSON) as U+FFFD."""
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value)


def queue_rows(view: PersonView) -> list[QueueRow]:
    """The queue's rows of one person view (none for an erased person: their view holds no request)."""
    person_id = view.merged_into or view.person_id
    rows = []
    for request_id, request in view.service_requests.items():
        finished = request["state"] in FINISHED
        rows.append(
            QueueRow(
                request_id,
                view.person_id,
                person_id,
                _text(request["kind"]),
                request["channel"],
                _text(request["subject"]),
                _text(request["function_id"]),
                request["state"],
                _text(request["assignee"]),
                _instant(request["opened_at"]),
                _instant(request["due_at"]),
                _instant(request["resolved_at"] or request["closed_at"]) if finished else None,
            )
        )
    return rows


@dataclass(frozen=True)
class QueueQuery:
    """One page of the queue: the filters, the instant breaches are judged at (the first page's, kept
    by the next ones, so a request falling due meanwhile does not move between pages), and where
    the previous page ended."""

    at: datetime
    states: tuple[str, ...] = NOT_CLOSED
    assignee: str | None = None
    kind: str | None = None
    breached: bool | None = None
    due_before: datetime | None = None
    after: QueueKey | None = None
    limit: int = 50
    unassigned: bool | None = None  # True: in nobody's hands yet; False: in someone's

    def keeps(self, row: QueueRow) -> bool:
        return (
            row.state in self.states
            and (self.assignee is None or row.assignee == self.assignee)
            and (self.unassigned is None or (row.assignee is None) == self.unassigned)
            and (self.kind is None or row.kind == self.kind)
            and (self.breached is None or row.breached(self.at) == self.breached)
            and (self.due_before is None or (row.due_at is not None and row.due_at < self.due_before))
            and (self.after is None or row.key(self.at) > self.after)
        )


def page_of(rows: Iterable[QueueRow], query: QueueQuery) -> list[QueueRow]:
    """The rows the query keeps, in the queue's order, at most ``limit`` of them."""
    return sorted((row for row in rows if query.keeps(row)), key=lambda row: row.key(query.at))[: query.limit]
