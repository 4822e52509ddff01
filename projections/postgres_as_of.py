"""Time travel on PostgreSQL: a person's checkpoints and events as a cut keeps them (projections/as_of.py).

Two statements: the person's best checkpoint for the cut, then the events past it that the cut keeps,
read off the timeline's (person_id, occurred_at) index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic_core import to_json

from projections.as_of import Checkpoint, Cut, Partition
from projections.person_codec import view_from_json, view_to_json
from projections.timeline import TimelineEntry

Rows = Callable[[str, Any], list[tuple]]  # PostgresQueries._rows: a statement on the generation queries read

_ENTRY_COLUMNS = (
    "person_id, event_id, event_type, channel, occurred_at, data::text, topic, partition, kafka_offset, "
    "message_key, status"
)


def bounds_of(stored: dict[str, int]) -> dict[Partition, int]:
    return {(where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1])): offset for where, offset in stored.items()}


def stored_bounds(bounds: dict[Partition, int]) -> dict[str, int]:
    return {f"{topic}:{partition}": offset for (topic, partition), offset in sorted(bounds.items())}


def cut_condition(cut: Cut, bounds: dict[Partition, int]) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) of the timeline rows the cut keeps and the checkpoint
    with ``bounds`` does not hold."""
    parts, params = ["(%s::timestamptz IS NULL OR occurred_at <= %s)"], [cut.until, cut.until]
    if cut.position is not None:  # only the named partitions, from the checkpoint's bound to the cut's
        ranges = []
        for (topic, partition), end in sorted(cut.position.items()):
            start = bounds.get((topic, partition), 0)
            if end > start:
                ranges.append("(topic = %s AND partition = %s AND kafka_offset >= %s AND kafka_offset < %s)")
                params += [topic, partition, start, end]
        parts.append(f"({' OR '.join(ranges)})" if ranges else "false")
    else:
        for (topic, partition), start in sorted(bounds.items()):
            parts.append("NOT (topic = %s AND partition = %s AND kafka_offset < %s)")
            params += [topic, partition, start]
    return " AND ".join(parts), params


def entry_of(row: tuple) -> TimelineEntry:
    return TimelineEntry(*row[:5], row[5].encode(), *row[6:11])


def events_as_of(rows: Rows, person_id: str, cut: Cut) -> tuple[Checkpoint | None, list[TimelineEntry]]:
    """The person's best checkpoint for the cut (None if none serves) and their events past it that
    the cut keeps: the checkpoint chosen in SQL (its time, and its bounds within the cut's position),
    then the events."""
    position = None if cut.position is None else to_json(stored_bounds(dict(cut.position))).decode()
    found = rows(
        "SELECT view, bounds FROM {schema}.checkpoint c WHERE person_id = %s "
        "AND (%s::timestamptz IS NULL OR last_event_at <= %s) "
        "AND (%s::json IS NULL OR NOT EXISTS (SELECT 1 FROM json_each_text(c.bounds) b "
        "  WHERE b.value::bigint > 0 AND b.value::bigint > coalesce((%s::json ->> b.key)::bigint, 0))) "
        "ORDER BY events DESC LIMIT 1",
        (person_id, cut.until, cut.until, position, position),
    )
    checkpoint = Checkpoint(view_from_json(found[0][0]), bounds_of(found[0][1])) if found else None
    condition, params = cut_condition(cut, dict(checkpoint.bounds) if checkpoint else {})
    entries = rows(
        f"SELECT {_ENTRY_COLUMNS} FROM {{schema}}.timeline WHERE person_id = %s AND {condition}", (person_id, *params)
    )
    return checkpoint, [entry_of(row) for row in entries]


def checkpoint_rows(checkpoints: Iterable[Checkpoint]) -> list[tuple]:
    """The checkpoints as rows of the checkpoint table."""
    return [
        (
            c.view.person_id,
            c.view.events_applied,
            c.view.last_event_at,
            to_json(stored_bounds(dict(c.bounds))).decode(),
            to_json(view_to_json(c.view)).decode(),
        )
        for c in checkpoints
    ]
