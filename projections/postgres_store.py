"""The PostgreSQL projection store.

Read models live in one schema per *generation* (``<namespace>_g<N>``), with the offsets they
reflect in the same schema, so a batch's rows and offsets commit in one transaction.
``<namespace>_meta.active`` names the generation that queries read and the live projector writes;
``crossview rebuild`` fills a fresh generation from offset 0 and then switches the pointer.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic_core import to_json

from projections.audit_view import AuditEntry
from projections.directory import Colleague, Criteria, References
from projections.person_view import STATUS_STAGE, PersonView, TimelineEntry, view_from_json, view_to_json
from projections.ports import GenerationChanged, Partition, StaleOffsets, StoreUnavailable, TimelineFilter
from projections.reference_view import ORGANISATION, TITLES

PROJECTION = "person_view"

# The projector rewrites every touched view each batch and adds a timeline row an event, and with
# two members PostgreSQL's CPU is a third of the whole: documents are json, not jsonb (they are read
# whole or by ->> on a key or two, so the binary form only cost its conversion, ~15 % of PostgreSQL's
# time), and person_view pages keep 40 % free so a rewritten view stays on its page without a new
# index entry (a HOT update: ~17 % less). BENCHMARKS.md has the figures.
_GENERATION_DDL = """
CREATE TABLE {schema}.person_view (
    person_id text PRIMARY KEY,
    view json  -- NULL: a row reserved to lock the person before their first view is written
) WITH (fillfactor = 60);
CREATE TABLE {schema}.timeline (
    event_id text PRIMARY KEY,
    person_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_type text NOT NULL,
    channel text,
    data json NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    message_key text,
    status text
);
CREATE INDEX ON {schema}.timeline (person_id, occurred_at DESC, event_id DESC);
CREATE TABLE {schema}.reference (
    kind text NOT NULL,
    id text NOT NULL,
    view jsonb NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE {schema}.person_search (
    person_id text PRIMARY KEY,
    text text NOT NULL  -- lower-cased names and person-level attribute values
);
CREATE TABLE {schema}.person_function (
    person_id text NOT NULL,
    function_id text NOT NULL,
    organisation_id text NOT NULL,
    title_code text NOT NULL,
    entered_on date NOT NULL,
    exits_on date,
    contacts text NOT NULL,  -- lower-cased function-level attribute values
    PRIMARY KEY (person_id, function_id)
);
CREATE INDEX ON {schema}.person_function (organisation_id);
CREATE INDEX ON {schema}.person_function (title_code);
CREATE TABLE {schema}.campaign_reach (
    campaign text NOT NULL,
    channel text NOT NULL,
    indicator text NOT NULL,
    person_id text NOT NULL,
    PRIMARY KEY (campaign, channel, indicator, person_id)
);
CREATE TABLE {schema}.offsets (
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL CHECK (next_offset > 0),
    PRIMARY KEY (topic, partition)
);
"""

# Tables added after generations already existed: created in every generation, new or old.
_ADDED_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.audit (
    event_id text PRIMARY KEY,
    subject text NOT NULL,
    at timestamptz NOT NULL,
    entry json NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_subject_at ON {schema}.audit (subject, at DESC, event_id DESC);
"""

# The lifecycle stage of a status (person_view.STATUS_STAGE), so SQL picks a message's latest status as
# the in-memory store does.
_STAGE_SQL = (
    "CASE status " + " ".join(f"WHEN '{status}' THEN {stage}" for status, stage in STATUS_STAGE.items()) + " ELSE 1 END"
)

_TIMELINE_COLUMNS = (
    "event_id, person_id, occurred_at, event_type, channel, data, topic, partition, kafka_offset, message_key, status"
)


class _PostgresTransaction:
    def __init__(self, conn: psycopg.Connection, schema: sql.Identifier) -> None:
        self._conn = conn
        self._schema = schema

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
        return {view.person_id: view for view in (view_from_json(row[0]) for row in rows)}

    def save_views(self, views: Iterable[PersonView], profile_changed: Iterable[str] = ()) -> None:
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

    def _reindex(self, views: list[PersonView]) -> None:
        """Rewrite the search and roster rows of people whose profile changed."""
        ids = [view.person_id for view in views]
        cur = self._conn.cursor()
        cur.execute(self._q("DELETE FROM {schema}.person_function WHERE person_id = ANY(%s)"), (ids,))
        with cur.copy(
            self._q(
                "COPY {schema}.person_function (person_id, function_id, organisation_id, title_code, entered_on, "
                "exits_on, contacts) FROM STDIN"
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
                        )
                    )
        cur.executemany(
            self._q(
                "INSERT INTO {schema}.person_search (person_id, text) VALUES (%s, %s) "
                "ON CONFLICT (person_id) DO UPDATE SET text = excluded.text"
            ),
            [
                (
                    v.person_id,
                    " ".join(
                        [
                            v.given_name or "",
                            v.family_name or "",
                            *(a for a in v.attributes.values() if a),
                            *(c.split(":", 1)[1] for c in v.contact_points),
                        ]
                    ).lower(),
                )
                for v in views
            ],
        )

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

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            self._conn.cursor().executemany(
                self._q("INSERT INTO {schema}.audit VALUES (%s, %s, %s, %s::json) ON CONFLICT DO NOTHING"),
                [(e.event_id, e.subject, e.at, to_json(e._asdict()).decode()) for e in entries],
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


class PostgresStore:
    """Reads and writes one generation; with ``follow_active`` it always targets the active one."""

    def __init__(self, pool: ConnectionPool, namespace: str, generation: int | None = None) -> None:
        self._pool = pool
        self._namespace = namespace
        self._meta = sql.Identifier(f"{namespace}_meta")
        self.follow_active = generation is None
        self._read_generation_at = float("-inf")
        self._read_generation_cached = 0
        self.install()
        self.generation = generation if generation is not None else self.active_generation()

    # --- generations ------------------------------------------------------------------------

    def _schema(self, generation: int) -> sql.Identifier:
        return sql.Identifier(f"{self._namespace}_g{generation}")

    def install(self) -> None:
        """Create the meta tables and generation 1 if this namespace is new (safe to race)."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._namespace,))
            conn.execute(
                sql.SQL(
                    "CREATE SCHEMA IF NOT EXISTS {meta};"
                    "CREATE TABLE IF NOT EXISTS {meta}.generations (generation integer PRIMARY KEY, "
                    " created_at timestamptz NOT NULL DEFAULT now(), activated_at timestamptz);"
                    "CREATE TABLE IF NOT EXISTS {meta}.active (projection text PRIMARY KEY, generation integer NOT NULL)"
                ).format(meta=self._meta)
            )
            if (
                conn.execute(
                    sql.SQL("SELECT 1 FROM {meta}.active WHERE projection = %s").format(meta=self._meta), (PROJECTION,)
                ).fetchone()
                is None
            ):
                self._create_generation(conn, 1)
                conn.execute(sql.SQL("INSERT INTO {meta}.active VALUES (%s, 1)").format(meta=self._meta), (PROJECTION,))
                conn.execute(
                    sql.SQL("UPDATE {meta}.generations SET activated_at = now() WHERE generation = 1").format(
                        meta=self._meta
                    )
                )
            generations = conn.execute(sql.SQL("SELECT generation FROM {meta}.generations").format(meta=self._meta))
            for (generation,) in generations.fetchall():
                conn.execute(sql.SQL(_ADDED_DDL).format(schema=self._schema(generation)))

    def _create_generation(self, conn: psycopg.Connection, generation: int) -> None:
        schema = self._schema(generation)
        conn.execute(sql.SQL("CREATE SCHEMA {schema}").format(schema=schema))
        conn.execute(sql.SQL(_GENERATION_DDL).format(schema=schema))
        conn.execute(sql.SQL(_ADDED_DDL).format(schema=schema))
        conn.execute(
            sql.SQL("INSERT INTO {meta}.generations (generation) VALUES (%s)").format(meta=self._meta), (generation,)
        )

    def active_generation(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT generation FROM {meta}.active WHERE projection = %s").format(meta=self._meta),
                (PROJECTION,),
            ).fetchone()
        return row[0]

    def new_generation(self) -> int:
        """An empty, inactive generation for a rebuild."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._namespace,))
            latest = conn.execute(
                sql.SQL("SELECT max(generation) FROM {meta}.generations").format(meta=self._meta)
            ).fetchone()[0]
            self._create_generation(conn, latest + 1)
            return latest + 1

    def activate(self, generation: int) -> int:
        """Point queries and the live projector at ``generation``; drop the one before the previous."""
        with self._pool.connection() as conn, conn.transaction():
            previous = conn.execute(
                sql.SQL("SELECT generation FROM {meta}.active WHERE projection = %s FOR UPDATE").format(
                    meta=self._meta
                ),
                (PROJECTION,),
            ).fetchone()[0]
            conn.execute(
                sql.SQL("UPDATE {meta}.active SET generation = %s WHERE projection = %s").format(meta=self._meta),
                (generation, PROJECTION),
            )
            conn.execute(
                sql.SQL("UPDATE {meta}.generations SET activated_at = now() WHERE generation = %s").format(
                    meta=self._meta
                ),
                (generation,),
            )
            # The previous generation stays one round, so a query that read the old pointer still finishes.
            stale = conn.execute(
                sql.SQL(
                    "SELECT generation FROM {meta}.generations WHERE generation < %s AND generation NOT IN (%s, %s)"
                ).format(meta=self._meta),
                (generation, previous, generation),
            ).fetchall()
            for (old,) in stale:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {schema} CASCADE").format(schema=self._schema(old)))
                conn.execute(
                    sql.SQL("DELETE FROM {meta}.generations WHERE generation = %s").format(meta=self._meta), (old,)
                )
        return previous

    # --- the projector's side ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTransaction]:
        with self._pool.connection() as conn, conn.transaction():
            if self.follow_active:
                # FOR SHARE holds off a rebuild's switch until this batch is committed.
                active = conn.execute(
                    sql.SQL("SELECT generation FROM {meta}.active WHERE projection = %s FOR SHARE").format(
                        meta=self._meta
                    ),
                    (PROJECTION,),
                ).fetchone()[0]
                if active != self.generation:
                    self.generation = active
                    raise GenerationChanged(f"active generation is now {active}")
            yield _PostgresTransaction(conn, self._schema(self.generation))

    def offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        stored = self._all_offsets(self.generation)
        return {p: stored.get(p, 0) for p in partitions}

    def _all_offsets(self, generation: int) -> dict[Partition, int]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT topic, partition, next_offset FROM {schema}.offsets").format(
                    schema=self._schema(generation)
                )
            ).fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    # --- queries (always the active generation) ---------------------------------------------

    def _read_generation(self) -> int:
        """The generation queries read. Looked up at most once a second: after a rebuild's switch the
        previous generation is kept one more round, so a query that still reads it finishes."""
        if not self.follow_active:
            return self.generation
        now = time.monotonic()
        if now - self._read_generation_at > 1.0:
            self._read_generation_cached = self.active_generation()
            self._read_generation_at = now
        return self._read_generation_cached

    def _read_schema(self) -> sql.Identifier:
        return self._schema(self._read_generation())

    def position(self) -> dict[Partition, int]:
        return self._all_offsets(self._read_generation())

    def _rows(self, statement: str, params: Any = None) -> list[tuple]:
        """Run one query on the generation queries read. The schema is resolved before a connection
        is taken, so a request never holds one connection while waiting for another."""
        query = sql.SQL(statement).format(schema=self._read_schema())
        with self._pool.connection() as conn:
            return conn.execute(query, params).fetchall()

    def person(self, person_id: str) -> PersonView | None:
        rows = self._rows("SELECT view FROM {schema}.person_view WHERE person_id = %s", (person_id,))
        return view_from_json(rows[0][0]) if rows else None

    def timeline(
        self,
        person_id: str,
        limit: int,
        before: tuple[datetime, str] | None = None,
        only: TimelineFilter | None = None,
    ) -> list[TimelineEntry]:
        # One row per message (its latest event, with every status it went through), newest first.
        page = "WHERE (occurred_at, event_id) < (%s, %s)" if before else ""
        only = only or TimelineFilter()
        rows = self._rows(
            f"WITH events AS (SELECT *, coalesce(message_key, event_id) AS message, {_STAGE_SQL} AS stage "
            "  FROM {schema}.timeline WHERE person_id = %s "
            "  AND (%s::text IS NULL OR channel = %s) AND (%s::text IS NULL OR data->>'function_id' = %s)), "
            "latest AS (SELECT DISTINCT ON (message) * FROM events "
            "  ORDER BY message, stage DESC, occurred_at DESC, event_id DESC) "
            "SELECT person_id, event_id, event_type, channel, occurred_at, data::text, topic, partition, kafka_offset, "
            "  message_key, status, (SELECT array_agg(e.status ORDER BY e.stage, e.occurred_at, e.event_id) "
            "    FROM events e WHERE e.message = latest.message AND e.status IS NOT NULL) "
            f"FROM latest {page} ORDER BY occurred_at DESC, event_id DESC LIMIT %s",
            (person_id, only.channel, only.channel, only.function_id, only.function_id, *(before or ()), limit),
        )
        return [TimelineEntry(*row[:5], row[5].encode(), *row[6:11], tuple(row[11] or ())) for row in rows]

    def persons(self, person_ids: Iterable[str]) -> dict[str, PersonView]:
        rows = self._rows("SELECT view FROM {schema}.person_view WHERE person_id = ANY(%s)", (list(person_ids),))
        return {view.person_id: view for view in (view_from_json(row[0]) for row in rows)}

    def reference_data(self, organisation_ids: Iterable[str]) -> References:
        rows = self._rows(
            "SELECT kind, id, view FROM {schema}.reference WHERE (kind = %s AND id = ANY(%s)) OR kind = %s",
            (ORGANISATION, list(set(organisation_ids)), TITLES),
        )
        organisations = {ident: view for kind, ident, view in rows if kind == ORGANISATION}
        titles = next((view.get("titles", {}) for kind, _, view in rows if kind == TITLES), {})
        return References(organisations, titles)

    def _views_with_references(self, person_ids: list[str]) -> tuple[list[PersonView], References]:
        views = list(self.persons(person_ids).values())
        return views, self.reference_data(f.organisation_id for v in views for f in v.functions.values())

    def search_candidates(self, query: str, day: date, limit: int) -> tuple[list[PersonView], References]:
        words = query.lower().split()
        patterns = [f"%{_escape_like(word)}%" for word in words] or ["%"]
        titles = self.reference_data(()).titles
        title_codes = [
            code
            for code, t in titles.items()
            if any(word in code.lower() or word in (t.get("label") or "").lower() for word in words)
        ]
        organisation_ids = [
            row[0]
            for row in self._rows(
                "SELECT id FROM {schema}.reference WHERE kind = %s AND lower(view->>'name') LIKE ANY(%s)",
                (ORGANISATION, patterns),
            )
        ]
        ids = [
            row[0]
            for row in self._rows(
                "SELECT person_id FROM {schema}.person_search WHERE text LIKE ANY(%(p)s) "
                "UNION SELECT person_id FROM {schema}.person_function "
                "WHERE entered_on <= %(day)s AND (exits_on IS NULL OR exits_on >= %(day)s) "
                "AND (organisation_id = ANY(%(orgs)s) OR title_code = ANY(%(titles)s) OR contacts LIKE ANY(%(p)s)) "
                "LIMIT %(cap)s",
                {"p": patterns, "day": day, "orgs": organisation_ids, "titles": title_codes, "cap": limit * 20},
            )
        ]
        return self._views_with_references(ids)

    def people_of(self, organisation_id: str, day: date, include_past: bool) -> list[PersonView]:
        active = "" if include_past else "AND entered_on <= %(day)s AND (exits_on IS NULL OR exits_on >= %(day)s)"
        ids = [
            row[0]
            for row in self._rows(
                f"SELECT DISTINCT person_id FROM {{schema}}.person_function WHERE organisation_id = %(org)s {active}",
                {"org": organisation_id, "day": day},
            )
        ]
        return list(self.persons(ids).values())

    def colleagues(self, organisation_ids: Iterable[str], day: date) -> list[Colleague]:
        rows = self._rows(
            "SELECT pf.organisation_id, pf.person_id, pv.view->>'given_name', pv.view->>'family_name', pf.title_code "
            "FROM {schema}.person_function pf JOIN {schema}.person_view pv USING (person_id) "
            "WHERE pf.organisation_id = ANY(%(orgs)s) AND pf.entered_on <= %(day)s "
            "AND (pf.exits_on IS NULL OR pf.exits_on >= %(day)s)",
            {"orgs": list(organisation_ids), "day": day},
        )
        return [Colleague(*row) for row in rows]

    def targeting_candidates(self, criteria: Criteria, day: date) -> tuple[list[PersonView], References]:
        conditions, params = [], {"day": day}
        if criteria.active_only:
            conditions.append("pf.entered_on <= %(day)s AND (pf.exits_on IS NULL OR pf.exits_on >= %(day)s)")
        if criteria.title_codes is not None:
            conditions.append("pf.title_code = ANY(%(titles)s)")
            params["titles"] = list(criteria.title_codes)
        if criteria.organisation_ids is not None:
            conditions.append("pf.organisation_id = ANY(%(orgs)s)")
            params["orgs"] = list(criteria.organisation_ids)
        join = ""
        if criteria.relationships is not None:
            join = "JOIN {schema}.reference r ON r.kind = 'organisation' AND r.id = pf.organisation_id"
            conditions.append("r.view->>'relationship' = ANY(%(relationships)s)")
            params["relationships"] = list(criteria.relationships)
        where = " AND ".join(conditions) or "TRUE"
        ids = [
            row[0]
            for row in self._rows(
                f"SELECT DISTINCT pf.person_id FROM {{schema}}.person_function pf {join} WHERE {where}", params
            )
        ]
        return self._views_with_references(ids)

    def campaign_counts(self, campaign: str) -> dict[tuple[str, str], int]:
        rows = self._rows(
            "SELECT channel, indicator, count(*) FROM {schema}.campaign_reach WHERE campaign = %s "
            "GROUP BY channel, indicator",
            (campaign,),
        )
        return {(channel, indicator): count for channel, indicator, count in rows}

    def audit_of(self, subject: str, limit: int) -> list[AuditEntry]:
        rows = self._rows(
            "SELECT entry FROM {schema}.audit WHERE subject = %s ORDER BY at DESC, event_id DESC LIMIT %s",
            (subject, limit),
        )
        return [_audit_entry(entry) for (entry,) in rows]

    def organisation(self, organisation_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT view FROM {schema}.reference WHERE kind = %s AND id = %s", (ORGANISATION, organisation_id)
        )
        return rows[0][0] if rows else None


def _audit_entry(entry: dict[str, Any]) -> AuditEntry:
    return AuditEntry(**{**entry, "at": datetime.fromisoformat(entry["at"]), "roles": tuple(entry["roles"])})


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class DatabaseUnavailable(StoreUnavailable):
    """PostgreSQL does not answer at the configured address (or cut the connection in use)."""


def where(database_url: str) -> str:
    """host:port/dbname of a connection URL, without its credentials (for messages)."""
    info = conninfo_to_dict(database_url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class _Pool(ConnectionPool):
    """A pool whose lost connections are one named error: a database that restarts or goes away
    raises DatabaseUnavailable from whatever used the connection, so the projector retries from
    its stored offsets and the API answers 503, instead of each caller knowing psycopg's errors.
    The pool drops a broken connection when it comes back, so the next borrow connects anew."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        try:
            with super().connection(timeout) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as error:
            if not _lost(error):
                raise
            raise DatabaseUnavailable(f"PostgreSQL at {where(self.conninfo)} did not answer ({error})") from error


def _lost(error: Exception) -> bool:
    """A connection lost or refused, not an answer of a live server (a lock wait cancelled, a deadlock)."""
    return not isinstance(error, psycopg.errors.QueryCanceled | psycopg.errors.TransactionRollback)


def open_pool(database_url: str, max_size: int = 8) -> ConnectionPool:
    # A caller waits at most 5 s for a connection (psycopg's default is 30): with PostgreSQL away,
    # a request answers 503 soon and the projector retries, instead of both hanging.
    pool = _Pool(database_url, min_size=1, max_size=max_size, open=False, timeout=5, kwargs={"autocommit": True})
    try:
        pool.open(wait=True, timeout=15)
    except PoolTimeout as error:
        pool.close()
        raise DatabaseUnavailable(f"PostgreSQL at {where(database_url)} does not answer ({error})") from error
    return pool
