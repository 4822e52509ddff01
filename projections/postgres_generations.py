"""The PostgreSQL store's generations: the DDL of one generation, and which generation is active.

Read models live in one schema per *generation* (``<namespace>_g<N>``), with the offsets they
reflect in the same schema. ``<namespace>_meta.active`` names the generation that queries read and
the live projector writes; ``crossview rebuild`` fills a fresh generation from offset 0 and then
switches the pointer.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from projections import postgres_documents, postgres_request_queue
from projections.postgres_indexes import index_generation

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
CREATE TABLE {schema}.person_search (  -- the people search may find: not those joined into another
    person_id text PRIMARY KEY,
    text text NOT NULL,  -- lower-cased given name, person-level attribute values and contact points
    family_name text COLLATE "C" NOT NULL DEFAULT '',  -- the names ('' when missing): the results' order
    given_name text COLLATE "C" NOT NULL DEFAULT ''
);
CREATE TABLE {schema}.search_name (  -- every family name held in person_search, lower-cased beside it
    family_name text COLLATE "C" PRIMARY KEY,
    lowered text NOT NULL
);
CREATE TABLE {schema}.person_function (
    person_id text NOT NULL,
    function_id text NOT NULL,
    organisation_id text NOT NULL,
    title_code text NOT NULL,
    entered_on date NOT NULL,
    exits_on date,
    contacts text NOT NULL,  -- lower-cased function-level attribute values
    family_name text COLLATE "C" NOT NULL DEFAULT '',  -- the person's names ('' when missing), for links
    given_name text COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (person_id, function_id)
);
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
CREATE TABLE IF NOT EXISTS {schema}.checkpoint (  -- time travel's head starts (projections/as_of.py)
    person_id text NOT NULL,
    events integer NOT NULL,  -- the view's events_applied
    last_event_at timestamptz,  -- the latest time of its events
    bounds json NOT NULL,  -- "topic:partition" -> the next offset: the log it reflects
    view json NOT NULL,
    PRIMARY KEY (person_id, events)
);
CREATE TABLE IF NOT EXISTS {schema}.lead (  -- one row per lead: the sales pipeline counts them
    lead_id text PRIMARY KEY,
    person_id text NOT NULL,
    stage text NOT NULL,
    owner text NOT NULL,  -- '' before the lead is routed
    source text NOT NULL,
    prescriber text NOT NULL  -- the prescriber organisation credited, '' for none
);
"""


class Generations:
    """Creates, finds and switches the generations of one namespace."""

    def __init__(self, pool: ConnectionPool, namespace: str) -> None:
        self._pool = pool
        self._namespace = namespace
        self._meta = sql.Identifier(f"{namespace}_meta")

    def schema(self, generation: int) -> sql.Identifier:
        return sql.Identifier(self._schema_name(generation))

    def _schema_name(self, generation: int) -> str:
        return f"{self._namespace}_g{generation}"

    def locked_active(self, conn: psycopg.Connection, lock: str) -> int:
        """The active generation, locked FOR ``lock`` (SHARE or UPDATE) until ``conn``'s transaction ends."""
        return conn.execute(
            sql.SQL("SELECT generation FROM {meta}.active WHERE projection = %s FOR " + lock).format(meta=self._meta),
            (PROJECTION,),
        ).fetchone()[0]

    def install(self) -> None:
        """Create the meta tables and generation 1 if this namespace is new (safe to race)."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._namespace,))
            conn.execute(
                sql.SQL(
                    "CREATE SCHEMA IF NOT EXISTS {meta};"
                    "CREATE TABLE IF NOT EXISTS {meta}.generations (generation integer PRIMARY KEY, "
                    " created_at timestamptz NOT NULL DEFAULT now(), activated_at timestamptz);"
                    "CREATE TABLE IF NOT EXISTS {meta}.active (projection text PRIMARY KEY, generation integer NOT NULL);"
                    # the named read models replays make (postgres_models.py): never dropped by a switch
                    "CREATE TABLE IF NOT EXISTS {meta}.models (name text PRIMARY KEY, generation integer NOT NULL, "
                    " until_at timestamptz NOT NULL, from_at timestamptz, targets json NOT NULL, "
                    " created_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)"
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
                conn.execute(sql.SQL(_ADDED_DDL).format(schema=self.schema(generation)))
                index_generation(conn, self._schema_name(generation))
                postgres_documents.install(conn, self._schema_name(generation))
                postgres_request_queue.install(conn, self._schema_name(generation))

    def _create_generation(self, conn: psycopg.Connection, generation: int) -> None:
        schema = self.schema(generation)
        conn.execute(sql.SQL("CREATE SCHEMA {schema}").format(schema=schema))
        conn.execute(sql.SQL(_GENERATION_DDL).format(schema=schema))
        conn.execute(sql.SQL(_ADDED_DDL).format(schema=schema))
        index_generation(conn, self._schema_name(generation))
        postgres_documents.install(conn, self._schema_name(generation))
        postgres_request_queue.install(conn, self._schema_name(generation))
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
            return self.create_next(conn)

    def create_next(self, conn: psycopg.Connection) -> int:
        """Create the next generation in ``conn``'s transaction; its number."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._namespace,))
        latest = conn.execute(
            sql.SQL("SELECT max(generation) FROM {meta}.generations").format(meta=self._meta)
        ).fetchone()[0]
        self._create_generation(conn, latest + 1)
        return latest + 1

    def activate(self, generation: int) -> int:
        """Point queries and the live projector at ``generation``; drop the one before the previous."""
        with self._pool.connection() as conn, conn.transaction():
            previous = self.locked_active(conn, "UPDATE")
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
                    "SELECT generation FROM {meta}.generations WHERE generation < %s AND generation NOT IN (%s, %s) "
                    "AND generation NOT IN (SELECT generation FROM {meta}.models)"
                ).format(meta=self._meta),
                (generation, previous, generation),
            ).fetchall()
            for (old,) in stale:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {schema} CASCADE").format(schema=self.schema(old)))
                conn.execute(
                    sql.SQL("DELETE FROM {meta}.generations WHERE generation = %s").format(meta=self._meta), (old,)
                )
        return previous
