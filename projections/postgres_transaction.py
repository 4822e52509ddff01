"""The projector's side of the PostgreSQL store: one batch's rows and offsets, written in the
transaction that ``PostgresStore.transaction`` opens, so they commit together or not at all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic_core import to_json

from projections.as_of import Checkpoint
from projections.audit_view import AuditEntry
from projections.person_codec import view_from_json, view_to_json
from projections.person_model import PersonView
from projections.ports import Partition, StaleOffsets
from projections.postgres_as_of import checkpoint_rows
from projections.postgres_changes import notify
from projections.postgres_documents import Documents
from projections.postgres_request_queue import save_queue
from projections.postgres_search import reindex_search
from projections.timeline import TimelineEntry

_TIMELINE_COLUMNS = (
    "event_id, person_id, occurred_at, event_type, channel, data, topic, partition, kafka_offset, message_key, status"
)


class PostgresTransaction:
    """One batch's writes to one generation, inside the store's transaction (ports.ProjectionTransaction)."""

    def __init__(self, conn: psycopg.Connection, schema: sql.Identifier, changes_channel: str | None = None) -> None:
        self._conn = conn
        self._schema = schema
        self._changes_channel = changes_channel  # None: nobody is told (a rebuild's generation)
        self._leads_read: dict[str, Any] = {}  # person id -> their leads as read: which ones a batch changed
        self._requests_read: dict[str, Any] = {}  # person id -> (requests, merged into) as read: the queue's rows

    def announce(self, person_ids: Iterable[str]) -> None:
        if self._changes_channel is not None:
            notify(self._conn, self._changes_channel, person_ids)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=self._schema)

    def claim(self, entries: Sequence[TimelineEntry]) -> set[str]:
        """Duplicates are rare (a producer's retry), so first try copying the batch straight into
        the timeline; only when an event id is already there, sort it out through a staging table."""
        unique = list({e.event_id: e for e in reversed(entries)}.values())[::-1]  # first occurrence wins
        if not unique:
            return set()
        try:
            with self._conn.transaction():  # a savepoint: a duplicate undoes the copy, not the batch
                self._copy_timeline(f"{{schema}}.timeline ({_TIMELINE_COLUMNS})", unique)
            return {e.event_id for e in unique}
        except psycopg.errors.UniqueViolation:
            pass
        cur = self._conn.cursor()
        cur.execute(
            self._q("CREATE TEMP TABLE IF NOT EXISTS stage_timeline (LIKE {schema}.timeline) ON COMMIT DELETE ROWS")
        )
        self._copy_timeline(f"stage_timeline ({_TIMELINE_COLUMNS})", unique)
        cur.execute(
            self._q(
                f"INSERT INTO {{schema}}.timeline ({_TIMELINE_COLUMNS}) SELECT {_TIMELINE_COLUMNS} "
                "FROM stage_timeline ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
            )
        )
        return {row[0] for row in cur.fetchall()}

    def _copy_timeline(self, target: str, entries: Sequence[TimelineEntry]) -> None:
        with self._conn.cursor().copy(self._q(f"COPY {target} FROM STDIN")) as copy:
            for e in entries:
                copy.write_row(
                    (
                        e.event_id,
                        e.person_id,
                        e.occurred_at,
                        e.event_type,
                        e.channel,
                        e.raw_data.decode(),
                        e.topic,
                        e.partition,
                        e.offset,
                        e.message_key,
                        e.status,
                    )
                )

    def views(self, person_ids: Iterable[str]) -> dict[str, PersonView]:
        """The current views, locked until commit: a person's events arrive on two topics, which
        two projectors may own, so the read-fold-write of one person must not interleave."""
        ids = sorted(set(person_ids))
        if not ids:
            return {}
        self._conn.execute(
            self._q(
                "INSERT INTO {schema}.person_view (person_id) SELECT unnest(%s::text[]) ORDER BY 1 "
                "ON CONFLICT DO NOTHING"
            ),
            (ids,),
        )
        rows = self._conn.execute(
            self._q(
                "SELECT view FROM {schema}.person_view WHERE person_id = ANY(%s) AND view IS NOT NULL "
                "ORDER BY person_id FOR UPDATE"
            ),
            (ids,),
        ).fetchall()
        views = {view.person_id: view for view in (view_from_json(row[0]) for row in rows)}
        self._leads_read.update((person_id, view.leads) for person_id, view in views.items())
        self._requests_read.update((pid, (view.service_requests, view.merged_into)) for pid, view in views.items())
        return views

    def save_views(
        self,
        views: Iterable[PersonView],
        profile_changed: Iterable[str] = (),
        before: Mapping[str, PersonView] | None = None,
    ) -> None:
        views = list(views)
        if not views:
            return
        cur = self._conn.cursor()
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS stage_view (person_id text, view json) ON COMMIT DELETE ROWS")
        with cur.copy("COPY stage_view (person_id, view) FROM STDIN") as copy:
            for view in views:
                # pydantic's Rust encoder: four times faster than json.dumps, the same JSON
                copy.write_row((view.person_id, to_json(view_to_json(view)).decode()))
        cur.execute(
            self._q(
                "INSERT INTO {schema}.person_view (person_id, view) SELECT person_id, view FROM stage_view "
                "ON CONFLICT (person_id) DO UPDATE SET view = excluded.view"
            )
        )
        changed = set(profile_changed)
        if changed:
            self._reindex([view for view in views if view.person_id in changed])
        self._save_leads(views)
        # the projector keeps the views of its people between batches: what it held is "before" too
        held = {pid: (view.service_requests, view.merged_into) for pid, view in (before or {}).items()}
        save_queue(self._conn, self._schema, views, {**self._requests_read, **held})

    def _save_leads(self, views: list[PersonView]) -> None:
        """The pipeline's rows of the leads this batch changed (a fold that saw no lead event keeps
        the view's own mapping, so most views cost one identity check)."""
        rows = []
        for view in views:
            before = self._leads_read.get(view.person_id, {})
            if view.leads is before:
                continue
            for lead_id, lead in view.leads.items():
                if before.get(lead_id) != lead:
                    owner, source, prescriber = lead["owner"] or "", lead["source"] or "", lead["prescriber_id"] or ""
                    rows.append((lead_id, view.person_id, lead["stage"], owner, source, prescriber))
        if rows:
            self._conn.cursor().executemany(
                self._q(
                    "INSERT INTO {schema}.lead (lead_id, person_id, stage, owner, source, prescriber) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (lead_id) DO UPDATE SET person_id = excluded.person_id, "
                    "stage = excluded.stage, owner = excluded.owner, source = excluded.source, "
                    "prescriber = excluded.prescriber"
                ),
                rows,
            )

    def _reindex(self, views: list[PersonView]) -> None:
        """Rewrite the search and roster rows of people whose profile changed (the roster rows carry
        the names, so a rename, a join or an erasure reaches the links of the 360° view)."""
        ids = [view.person_id for view in views]
        cur = self._conn.cursor()
        cur.execute(self._q("DELETE FROM {schema}.person_function WHERE person_id = ANY(%s)"), (ids,))
        with cur.copy(
            self._q(
                "COPY {schema}.person_function (person_id, function_id, organisation_id, title_code, entered_on, "
                "exits_on, contacts, family_name, given_name) FROM STDIN"
            )
        ) as copy:
            for view in views:
                for f in view.functions.values():
                    contacts = " ".join(v for v in view.function_attributes.get(f.function_id, {}).values() if v)
                    copy.write_row(
                        (
                            view.person_id,
                            f.function_id,
                            f.organisation_id,
                            f.title_code,
                            f.entered_on,
                            f.exits_on,
                            contacts.lower(),
                            view.family_name or "",
                            view.given_name or "",
                        )
                    )
        reindex_search(self._conn, self._schema, views)

    def record_campaign_reach(self, rows: set[tuple[str, str, str, str]]) -> None:
        if rows:
            self._conn.cursor().executemany(
                self._q("INSERT INTO {schema}.campaign_reach VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"),
                sorted(rows),
            )

    def references(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        keys = list(keys)
        if not keys:
            return {}
        rows = self._conn.execute(
            self._q(
                "SELECT kind, id, view FROM {schema}.reference WHERE (kind, id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
            ),
            ([k for k, _ in keys], [i for _, i in keys]),
        ).fetchall()
        return {(kind, ident): view for kind, ident, view in rows}

    def save_references(self, documents: Mapping[tuple[str, str], dict[str, Any]]) -> None:
        self._conn.cursor().executemany(
            self._q(
                "INSERT INTO {schema}.reference (kind, id, view) VALUES (%s, %s, %s) "
                "ON CONFLICT (kind, id) DO UPDATE SET view = excluded.view"
            ),
            [(kind, ident, Jsonb(view)) for (kind, ident), view in documents.items()],
        )

    def redact_timelines(self, person_ids: Iterable[str]) -> None:
        ids = list(person_ids)
        if ids:
            self._conn.execute(
                self._q("UPDATE {schema}.timeline SET data = '{{}}'::json WHERE person_id = ANY(%s)"), (ids,)
            )
            # their views kept for time travel held their data too: gone with it
            self._conn.execute(self._q("DELETE FROM {schema}.checkpoint WHERE person_id = ANY(%s)"), (ids,))

    def save_documents(
        self,
        views: Iterable[PersonView],
        organisations: Iterable[str],
        changed_references: Iterable[tuple[str, str]],
        day: date,
    ) -> None:
        self.documents().save(views, organisations, changed_references, day)

    def documents(self) -> Documents:
        return Documents(self._conn, self._schema)

    def save_checkpoints(self, checkpoints: Iterable[Checkpoint]) -> None:
        rows = checkpoint_rows(checkpoints)
        if rows:
            self._conn.cursor().executemany(
                self._q(
                    "INSERT INTO {schema}.checkpoint VALUES (%s, %s, %s, %s::json, %s::json) ON CONFLICT DO NOTHING"
                ),
                rows,
            )

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """One statement for the batch's accesses (a row a statement cost the database more than
        the rows: every read is an access)."""
        if entries:
            self._conn.execute(
                self._q(
                    "INSERT INTO {schema}.audit SELECT e->>'event_id', e->>'subject', (e->>'at')::timestamptz, e "
                    "FROM json_array_elements(%s::json) e ON CONFLICT DO NOTHING"
                ),
                (to_json([e._asdict() for e in entries]).decode(),),
            )

    def advance(self, new: Mapping[Partition, int], expected: Mapping[Partition, int]) -> None:
        cur = self._conn.cursor()
        for (topic, partition), offset in sorted(new.items()):
            start = expected[(topic, partition)]
            if offset <= start:
                raise StaleOffsets(f"{topic}:{partition}: offset {offset} does not move forward from {start}")
            if start == 0:
                cur.execute(
                    self._q(
                        "INSERT INTO {schema}.offsets (topic, partition, next_offset) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING"
                    ),
                    (topic, partition, offset),
                )
            else:
                cur.execute(
                    self._q(
                        "UPDATE {schema}.offsets SET next_offset = %s "
                        "WHERE topic = %s AND partition = %s AND next_offset = %s"
                    ),
                    (offset, topic, partition, start),
                )
            if cur.rowcount != 1:
                raise StaleOffsets(f"{topic}:{partition}: another projector moved past offset {start}")
