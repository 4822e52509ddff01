"""The service desk's queue in PostgreSQL (projections/request_queue.py says what it is): its table
in each generation, the projector's writes, and the query that pages through it.

The queue is read by its filters (a state, an assignee, a kind, a due time) and always in due-time
order, so each filter has an index that ends with the due time. "Breached" depends on the instant
of the question, so it is judged in the query: for unresolved requests it is "due before that
instant", which the same indexes serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from projections.person_model import PersonView
from projections.request_queue import NEVER_DUE, QueueQuery, QueueRow, queue_rows
from projections.service_requests import FINISHED

_COLUMNS = (
    "request_id, holder_id, person_id, kind, channel, subject, function_id, state, assignee, opened_at, due_at, done_at"
)

DDL = """
CREATE TABLE IF NOT EXISTS {schema}.request_queue (  -- one row per service request, whoever's it is
    request_id text COLLATE "C" PRIMARY KEY,  -- "C": the pages' order is the code points', as in memory
    holder_id text NOT NULL,  -- the person whose view holds it: their rows are written again together
    person_id text NOT NULL,  -- whom an advisor opens: the holder, or the person they were joined into
    kind text,
    channel text,
    subject text,  -- the customer's words, in clear as in the views: erasing the person deletes the row
    function_id text,
    state text NOT NULL,
    assignee text,
    opened_at timestamptz,
    due_at timestamptz,
    done_at timestamptz  -- resolved (else closed) at, while resolved or closed: "resolved late" is breached
);
CREATE INDEX IF NOT EXISTS request_queue_holder ON {schema}.request_queue (holder_id);
CREATE INDEX IF NOT EXISTS request_queue_due ON {schema}.request_queue (state, due_at, request_id);
CREATE INDEX IF NOT EXISTS request_queue_assignee ON {schema}.request_queue (assignee, due_at);
CREATE INDEX IF NOT EXISTS request_queue_kind ON {schema}.request_queue (kind, due_at);
"""

# A generation made before the queue existed: its rows from the views it holds (the projector then
# keeps them; `crossview rebuild` makes them again from the log, as every read model).
_BACKFILL = f"""
INSERT INTO {{schema}}.request_queue ({_COLUMNS})
SELECT r.key, v.person_id, coalesce(v.view->>'merged_into', v.person_id), r.value->>'kind', r.value->>'channel',
    r.value->>'subject', r.value->>'function_id', r.value->>'state', r.value->>'assignee',
    (r.value->>'opened_at')::timestamptz, (r.value->>'due_at')::timestamptz,
    CASE WHEN r.value->>'state' IN ('resolved', 'closed')
        THEN coalesce(r.value->>'resolved_at', r.value->>'closed_at')::timestamptz END
FROM {{schema}}.person_view v CROSS JOIN LATERAL json_each(v.view->'service_requests') r
WHERE v.view IS NOT NULL AND v.view->>'erased_on' IS NULL
ON CONFLICT (request_id) DO NOTHING
"""

# Breached at %(at)s, as QueueRow.breached says.
_BREACHED = (
    "CASE WHEN due_at IS NULL THEN false WHEN done_at IS NOT NULL THEN done_at > due_at "
    f"WHEN state IN ({', '.join(repr(s) for s in sorted(FINISHED))}) THEN false ELSE %(at)s > due_at END"
)
_KEY = "(NOT breached, coalesce(due_at, 'infinity'::timestamptz), request_id)"


def install(conn: psycopg.Connection, schema_name: str) -> None:
    """Give a generation, new or made by an earlier build, its queue. Nothing is run when it is
    there already: even CREATE INDEX IF NOT EXISTS locks the table against the projector's writes."""
    if conn.execute("SELECT to_regclass(%s)", (f"{schema_name}.request_queue",)).fetchone()[0] is not None:
        return
    schema = sql.Identifier(schema_name)
    conn.execute(sql.SQL(DDL).format(schema=schema))
    conn.execute(sql.SQL(_BACKFILL).format(schema=schema))


def save_queue(
    conn: psycopg.Connection,
    schema: sql.Identifier,
    views: Iterable[PersonView],
    read: Mapping[str, tuple[Mapping[str, Any], str | None]],
) -> None:
    """Write again the rows of the people whose requests changed, or who were joined or separated,
    since their views were ``read`` (person id -> (requests, merged into)); an erased person's
    view holds no request, so their rows go. A fold that saw none of that keeps the view's own
    mapping: most views cost one identity check."""
    changed = []
    for view in views:
        before = read.get(view.person_id)
        if before is None:
            if view.service_requests:
                changed.append(view)
        elif view.service_requests is not before[0] or view.merged_into != before[1]:
            changed.append(view)
    if not changed:
        return
    cur = conn.cursor()
    cur.execute(
        sql.SQL("DELETE FROM {schema}.request_queue WHERE holder_id = ANY(%s)").format(schema=schema),
        ([view.person_id for view in changed],),
    )
    rows = [row for view in changed for row in queue_rows(view)]
    if rows:
        cur.executemany(
            sql.SQL(
                f"INSERT INTO {{schema}}.request_queue ({_COLUMNS}) VALUES ({', '.join(['%s'] * 12)}) "
                "ON CONFLICT (request_id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
            ).format(schema=schema),
            rows,
        )


class RequestQueueQueries:
    """Mixed into the PostgreSQL store: ``_rows`` runs a query on the generation queries read."""

    _rows: Callable[..., list[tuple]]  # PostgresQueries': one query on the generation queries read

    def service_request_queue(self, query: QueueQuery) -> list[QueueRow]:
        conditions = ["state = ANY(%(states)s)"]
        params: dict[str, Any] = {"at": query.at, "states": list(query.states), "limit": query.limit}
        for name in ("assignee", "kind"):
            if getattr(query, name) is not None:
                conditions.append(f"{name} = %({name})s")
                params[name] = getattr(query, name)
        if query.unassigned is not None:
            conditions.append("assignee IS NULL" if query.unassigned else "assignee IS NOT NULL")
        if query.due_before is not None:
            conditions.append("due_at < %(due_before)s")
            params["due_before"] = query.due_before
        page = []
        if query.breached is not None:
            page.append("breached = %(breached)s")
            params["breached"] = query.breached
        if query.after is not None:
            page.append(f"{_KEY} > (%(on_time)s, coalesce(%(due)s::timestamptz, 'infinity'), %(after)s)")
            due = None if query.after.due_at == NEVER_DUE else query.after.due_at  # 'infinity' here, as in memory
            params.update(on_time=query.after.on_time, due=due, after=query.after.request_id)
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM (SELECT *, {_BREACHED} AS breached FROM {{schema}}.request_queue "
            f"WHERE {' AND '.join(conditions)}) q WHERE {' AND '.join(page) or 'true'} "
            f"ORDER BY {_KEY} LIMIT %(limit)s",
            params,
        )
        return [QueueRow(*row) for row in rows]
