"""The ready 360° documents (person_document) and organisations' links (organisation_links) of
one generation: written by the projector in the transaction of the views they come from, and
refreshed when a day, a reference or a title makes them stale (person_document module).

A part that no longer holds is marked stale (valid_until moved back to its valid_from) and a query
then answers from the views, as it would without documents; the projector rewrites stale parts
when it has time (``refresh``), so nothing waits for them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from projections.directory import Colleague, References
from projections.person_codec import view_from_json
from projections.person_document import (
    FORMAT,
    LINKS_KEPT,
    document_body,
    document_organisations,
    has_document,
    organisation_entries,
    person_valid_from,
    person_valid_until,
    valid_until,
)
from projections.person_model import PersonView
from projections.postgres_indexes import LINK_ORDER
from projections.reference_view import ORGANISATION, TITLES

DDL = """
CREATE TABLE IF NOT EXISTS {schema}.person_document (
    person_id text PRIMARY KEY,
    valid_from date NOT NULL,
    valid_until date NOT NULL,  -- the first day it no longer holds
    organisations text[] NOT NULL,  -- its active organisations, in the order their links are shown
    body text,  -- the 360° view's own members (person_document.document_body); NULL: not made yet
    format smallint NOT NULL DEFAULT 0  -- person_document.FORMAT it was made in
) WITH (fillfactor = 70);
CREATE INDEX IF NOT EXISTS person_document_valid_until ON {schema}.person_document (valid_until);
CREATE TABLE IF NOT EXISTS {schema}.organisation_links (
    organisation_id text PRIMARY KEY,
    valid_from date NOT NULL,
    valid_until date NOT NULL,
    organisation text NOT NULL,  -- its OrganisationRef as JSON
    people text NOT NULL,  -- its first people's ids, in link order, a line each
    entries text NOT NULL,  -- each one's LinkedPerson as JSON, a line each (JSON has no raw newline)
    format smallint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
CREATE INDEX IF NOT EXISTS organisation_links_valid_until ON {schema}.organisation_links (valid_until);
"""

# Everyone already in a generation made before documents existed: a stale placeholder each, which
# ``refresh`` fills in.
_PLACEHOLDERS = """
INSERT INTO {schema}.person_document (person_id, valid_from, valid_until, organisations)
SELECT person_id, '0001-01-01', '0001-01-01', '{{}}' FROM {schema}.person_view WHERE view IS NOT NULL
ON CONFLICT DO NOTHING
"""

_LINES = """
ALTER TABLE {schema}.organisation_links
    ALTER COLUMN people TYPE text USING array_to_string(people, E'\\n'),
    ALTER COLUMN entries TYPE text USING array_to_string(entries, E'\\n')
"""

_FIRST_FORMAT = """
ALTER TABLE {schema}.person_document ADD COLUMN format smallint NOT NULL DEFAULT 1;
ALTER TABLE {schema}.person_document ALTER COLUMN format SET DEFAULT 0;
ALTER TABLE {schema}.organisation_links ADD COLUMN format smallint NOT NULL DEFAULT 1;
ALTER TABLE {schema}.organisation_links ALTER COLUMN format SET DEFAULT 0;
"""

# Per organisation, its first %(rows)s roster rows in link order, ended and future ones included,
# off the links index (postgres_indexes): enough to find its first people and the first day they
# change by date alone, whatever the organisation's size.
_ROSTER = (
    "SELECT o.id, r.person_id, r.given_name, r.family_name, r.title_code, r.entered_on, r.exits_on "
    "FROM unnest(%(orgs)s::text[]) AS o(id) CROSS JOIN LATERAL ("
    " SELECT pf.person_id, pf.given_name, pf.family_name, pf.title_code, pf.entered_on, pf.exits_on"
    " FROM {schema}.person_function pf WHERE pf.organisation_id = o.id"
    f" ORDER BY {LINK_ORDER} LIMIT %(rows)s"
    ") r"
)


def first_people(rows: list[tuple], day: date, first: int, complete: bool) -> tuple[list[Colleague], date] | None:
    """From one organisation's roster rows in link order (``complete``: all of them): the rows of
    its first ``first`` people active on ``day`` and the first day that can change them (one of
    those functions ending, or a function listed among them starting); None if the rows read end
    before that is known."""
    kept: list[Colleague] = []
    people: set[str] = set()
    boundaries = []
    for org, pid, given, family, title, entered_on, exits_on in rows:
        if entered_on <= day and (exits_on is None or exits_on >= day):
            if pid not in people and len(people) == first:
                return kept, valid_until(boundaries, day)  # the next person: everything before is known
            people.add(pid)
            kept.append(Colleague(org, pid, given or None, family or None, title))
            boundaries.append((entered_on, exits_on))
        elif entered_on > day:
            boundaries.append((entered_on, None))
    return (kept, valid_until(boundaries, day)) if complete else None


def install(conn: psycopg.Connection, schema_name: str) -> None:
    """Give a generation, new or made by an earlier build, its document tables in this build's
    format. Nothing is run when they are there already: even CREATE INDEX IF NOT EXISTS locks a
    table against the projector's writes."""
    schema = sql.Identifier(schema_name)
    existed = conn.execute("SELECT to_regclass(%s)", (f"{schema_name}.person_document",)).fetchone()[0]
    if existed is None:
        conn.execute(sql.SQL(DDL).format(schema=schema))
        conn.execute(sql.SQL(_PLACEHOLDERS).format(schema=schema))
        return
    columns = dict(
        conn.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name IN ('person_document', 'organisation_links')",
            (schema_name,),
        ).fetchall()
    )
    if columns.get("organisation_links.people") == "ARRAY":  # a build that kept them as arrays: lines of text
        conn.execute(sql.SQL(_LINES).format(schema=schema))
    if "person_document.format" not in columns:  # the first format, before it was written down
        conn.execute(sql.SQL(_FIRST_FORMAT).format(schema=schema))
    # What an earlier build made in another format is made again (answered from the views meanwhile).
    for table in ("person_document", "organisation_links"):
        conn.execute(
            sql.SQL(
                "UPDATE {schema}.{table} SET valid_until = valid_from WHERE format <> %s AND valid_until > valid_from"
            ).format(schema=schema, table=sql.Identifier(table)),
            (FORMAT,),
        )


class Documents:
    """The document writes of one transaction of the projector (or of a refresh)."""

    def __init__(self, conn: psycopg.Connection, schema: sql.Identifier) -> None:
        self._conn = conn
        self._schema = schema

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=self._schema)

    def save(
        self,
        views: Iterable[PersonView],
        organisations: Iterable[str],
        changed_references: Iterable[tuple[str, str]],
        day: date,
    ) -> None:
        """Rewrite the documents of ``views`` and the links of ``organisations`` (those where
        someone's name or functions changed); mark stale what a changed reference shows."""
        organisations = set(organisations)
        changed_orgs = {ident for kind, ident in changed_references if kind == ORGANISATION}
        changed_titles = {ident for kind, ident in changed_references if kind == TITLES}
        self.lock_references(exclusive=bool(changed_orgs or changed_titles))
        if changed_orgs or changed_titles:
            self._mark_stale(changed_orgs, changed_titles)
            organisations |= changed_orgs
        views = list(views)
        gone = [v.person_id for v in views if not has_document(v)]
        if gone:
            self._conn.execute(self._q("DELETE FROM {schema}.person_document WHERE person_id = ANY(%s)"), (gone,))
        kept = [v for v in views if has_document(v)]
        self._write_documents(kept, day)
        organisations |= self._without_links({o for v in kept for o in document_organisations(v, day)})
        if organisations:
            self.write_links(sorted(organisations), day)

    def lock_references(self, exclusive: bool = False) -> None:
        """Whoever writes documents or links holds this (shared) until commit from before it reads
        references; whoever changes references and marks what shows them stale holds it alone. So a
        document is never made from references older than the marks, nor missed by them."""
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        self._conn.execute(f"SELECT {lock}(hashtextextended(%s, 0))", (f"{self._schema_name}: references",))

    @property
    def _schema_name(self) -> str:
        return self._schema.as_string(self._conn)

    def _without_links(self, organisations: set[str]) -> set[str]:
        """Those of ``organisations`` that have no links row yet (new, or in an upgraded generation)."""
        if not organisations:
            return set()
        rows = self._conn.execute(
            self._q(
                "SELECT o FROM unnest(%s::text[]) AS o(o) WHERE NOT EXISTS "
                "(SELECT 1 FROM {schema}.organisation_links l WHERE l.organisation_id = o.o)"
            ),
            (sorted(organisations),),
        ).fetchall()
        return {row[0] for row in rows}

    def _mark_stale(self, organisations: set[str], titles: set[str]) -> None:
        """Everyone holding a function at these organisations or with these titles (ended ones
        too: cheaper than knowing which show), and the links of every organisation they are at."""
        people_at = (
            "SELECT {col} FROM {{schema}}.person_function WHERE organisation_id = ANY(%(orgs)s) "
            "OR title_code = ANY(%(codes)s)"
        )
        params = {"orgs": sorted(organisations), "codes": sorted(titles)}
        self._conn.execute(
            self._q(
                "UPDATE {schema}.person_document SET valid_until = valid_from "
                f"WHERE valid_until > valid_from AND person_id IN ({people_at.format(col='person_id')})"
            ),
            params,
        )
        self._conn.execute(
            self._q(
                "UPDATE {schema}.organisation_links SET valid_until = valid_from "
                f"WHERE valid_until > valid_from AND organisation_id IN ({people_at.format(col='organisation_id')})"
            ),
            params,
        )

    def _write_documents(self, views: list[PersonView], day: date) -> None:
        if not views:
            return
        refs = self._references({f.organisation_id for v in views for f in v.active_functions(day)})
        cur = self._conn.cursor()
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_document "
            "(person_id text, valid_from date, valid_until date, organisations text[], body text, format smallint) "
            "ON COMMIT DELETE ROWS"
        )
        with cur.copy("COPY stage_document FROM STDIN") as copy:
            for view in views:
                copy.write_row(
                    (
                        view.person_id,
                        person_valid_from(view, day),
                        person_valid_until(view, day),
                        document_organisations(view, day),
                        document_body(view, refs, day),
                        FORMAT,
                    )
                )
        cur.execute(
            self._q(
                "INSERT INTO {schema}.person_document (person_id, valid_from, valid_until, organisations, body, format) "
                "SELECT * FROM stage_document ORDER BY person_id "
                "ON CONFLICT (person_id) DO UPDATE SET valid_from = excluded.valid_from, "
                "valid_until = excluded.valid_until, organisations = excluded.organisations, body = excluded.body, "
                "format = excluded.format"
            )
        )

    def write_links(self, organisations: list[str], day: date) -> None:
        """Each organisation's first people on ``day``, read from the roster under a lock per
        organisation: two projectors adding people to one organisation each see the other's."""
        self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s || o, 0)) FROM unnest(%s::text[]) AS o(o) ORDER BY o",
            (self._schema_name, organisations),
        )
        found: dict[str, tuple[list[Colleague], date]] = {}
        pending, limit = list(organisations), 4 * LINKS_KEPT
        while pending:  # a roster of ended functions or of people with several: rarely a second round
            rows_of: dict[str, list[tuple]] = {org: [] for org in pending}
            for row in self._conn.execute(self._q(_ROSTER), {"orgs": pending, "rows": limit}).fetchall():
                rows_of[row[0]].append(row)
            for org, rows in rows_of.items():
                done = first_people(rows, day, LINKS_KEPT, complete=len(rows) < limit)
                if done is not None:
                    found[org] = done
            pending, limit = [org for org in pending if org not in found], limit * 8
        refs = self._references(organisations)
        cur = self._conn.cursor()
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_links (organisation_id text, valid_from date, valid_until date, "
            "organisation text, people text, entries text, format smallint) ON COMMIT DELETE ROWS"
        )
        with cur.copy("COPY stage_links FROM STDIN") as copy:
            for org in organisations:
                colleagues, until = found[org]
                organisation, people, entries = organisation_entries(org, colleagues, refs)
                copy.write_row((org, day, until, organisation, "\n".join(people), "\n".join(entries), FORMAT))
        # A row that would not change is left alone: most people of a big organisation are past its first.
        cur.execute(
            self._q(
                "INSERT INTO {schema}.organisation_links "
                "(organisation_id, valid_from, valid_until, organisation, people, entries, format) "
                "SELECT * FROM stage_links ORDER BY organisation_id "
                "ON CONFLICT (organisation_id) DO UPDATE SET valid_from = excluded.valid_from, "
                "valid_until = excluded.valid_until, organisation = excluded.organisation, "
                "people = excluded.people, entries = excluded.entries, format = excluded.format "
                "WHERE (organisation_links.valid_from, organisation_links.valid_until, organisation_links.organisation, "
                "organisation_links.people, organisation_links.entries, organisation_links.format) IS DISTINCT FROM "
                "(excluded.valid_from, excluded.valid_until, excluded.organisation, excluded.people, excluded.entries, "
                "excluded.format)"
            )
        )

    def _references(self, organisations: Iterable[str]) -> References:
        rows = self._conn.execute(
            self._q("SELECT kind, id, view FROM {schema}.reference WHERE (kind = %s AND id = ANY(%s)) OR kind = %s"),
            (ORGANISATION, sorted(set(organisations)), TITLES),
        ).fetchall()
        found: Mapping[str, Any] = {ident: view for kind, ident, view in rows if kind == ORGANISATION}
        titles = next((view.get("titles", {}) for kind, _, view in rows if kind == TITLES), {})
        return References(found, titles)

    # --- refreshing what went stale ------------------------------------------------------------

    def refresh_people(self, day: date, limit: int) -> int:
        """Rewrite up to ``limit`` stale documents. Each refresher claims its own (rows another
        holds are skipped), and locks the views as the projector does; people a projector holds now
        are left for the next round."""
        self.lock_references()  # first: no lock of ours is held while waiting for it
        stale = self._conn.execute(
            self._q(
                "SELECT person_id FROM {schema}.person_document WHERE valid_until <= %s "
                "ORDER BY valid_until LIMIT %s FOR UPDATE SKIP LOCKED"
            ),
            (day, limit),
        ).fetchall()
        if not stale:
            return 0
        rows = self._conn.execute(
            self._q(
                "SELECT person_id, view FROM {schema}.person_view WHERE person_id = ANY(%s) "
                "ORDER BY person_id FOR UPDATE SKIP LOCKED"
            ),
            ([row[0] for row in stale],),
        ).fetchall()
        empty = [pid for pid, view in rows if view is None]
        if empty:
            self._conn.execute(self._q("DELETE FROM {schema}.person_document WHERE person_id = ANY(%s)"), (empty,))
        self.save([view_from_json(view) for _, view in rows if view is not None], (), (), day)
        return len(rows)

    def refresh_organisations(self, day: date, limit: int) -> int:
        """Rewrite up to ``limit`` stale links rows, claimed by their organisation's lock (taken
        without waiting: one a projector or another refresher writes now is left for later)."""
        self.lock_references()
        stale = self._conn.execute(
            self._q(
                "SELECT organisation_id FROM (SELECT organisation_id FROM {schema}.organisation_links "
                "WHERE valid_until <= %s ORDER BY valid_until LIMIT %s) s "
                "WHERE pg_try_advisory_xact_lock(hashtextextended(%s || organisation_id, 0))"
            ),
            (day, limit, self._schema_name),
        ).fetchall()
        if stale:
            self.write_links(sorted(row[0] for row in stale), day)
        return len(stale)
