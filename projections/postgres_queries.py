"""The PostgreSQL store's queries: what the API asks of the read models, on the generation queries read."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from projections.as_of import Cut
from projections.audit_view import AuditEntry
from projections.directory import Colleague, Criteria, PersonContext, References
from projections.person_codec import view_from_json
from projections.person_document import FORMAT
from projections.person_model import PersonView
from projections.postgres_indexes import LINK_ORDER
from projections.postgres_pool import LoopConnections
from projections.postgres_search import search
from projections.postgres_search_at import search_at
from projections.reference_view import (
    LEAD_RULES,
    OFFERS,
    ORGANISATION,
    POLICY,
    REQUEST_KINDS,
    TITLES,
    catalogue_offers,
    lead_rules,
    policy_levels,
    request_kinds,
)
from projections.timeline import TimelineEntry

# Per organisation, the first %(rows)s active rows in link order, read off the links index
# (postgres_indexes) with active-ness checked on its tuples: a bounded read, whatever the
# organisation's size. A LIMIT, not a window that stops at the Nth person: PostgreSQL's costs know a
# LIMIT stops early, so the ordered index scan wins over a bitmap of every row and a sort.
COLLEAGUES = (
    "SELECT o.id, c.person_id, c.given_name, c.family_name, c.title_code "
    "FROM unnest(%(orgs)s::text[]) AS o(id) CROSS JOIN LATERAL ("
    " SELECT pf.person_id, pf.given_name, pf.family_name, pf.title_code FROM {schema}.person_function pf"
    " WHERE pf.organisation_id = o.id AND pf.entered_on <= %(day)s"
    " AND (pf.exits_on IS NULL OR pf.exits_on >= %(day)s) AND pf.person_id <> %(excluding)s"
    f" ORDER BY {LINK_ORDER} LIMIT %(rows)s"
    ") c"
)


def colleagues_params(organisation_ids: Iterable[str], day: date, excluding: str, rows: int) -> dict[str, Any]:
    return {"orgs": list(dict.fromkeys(organisation_ids)), "day": day, "excluding": excluding, "rows": rows}


# The person's context (person_context), keyed by %(person)s on %(day)s: their organisations are
# those of their functions active that day, as the person_function rows (written with the view) say.
CONTEXT_VIEW = "SELECT view FROM {schema}.person_view WHERE person_id = %(person)s"
_ACTIVE_ORGANISATIONS = (
    "SELECT DISTINCT organisation_id FROM {schema}.person_function WHERE person_id = %(person)s"
    " AND entered_on <= %(day)s AND (exits_on IS NULL OR exits_on >= %(day)s)"
)
CONTEXT_REFERENCES = (
    "SELECT kind, id, view FROM {schema}.reference"
    f" WHERE (kind = %(org)s AND id IN ({_ACTIVE_ORGANISATIONS})) OR kind = %(titles)s"
)
CONTEXT_COLLEAGUES = COLLEAGUES.replace("unnest(%(orgs)s::text[])", f"({_ACTIVE_ORGANISATIONS})").replace(
    "%(excluding)s", "%(person)s"
)


def _first_people(
    rows: Iterable[tuple], organisation_ids: list[str], read: int, first: int
) -> tuple[list[Colleague], list[str]]:
    """From at most ``read`` link-ordered rows per organisation: the rows of its first ``first``
    people where that is known, and the organisations that need more rows (every row read held
    fewer people than that: people with several functions there)."""
    by_organisation: dict[str, list[Colleague]] = {oid: [] for oid in organisation_ids}
    for org, pid, given, family, title in rows:
        by_organisation.setdefault(org, []).append(Colleague(org, pid, given or None, family or None, title))
    found, pending = [], []
    for oid, colleagues in by_organisation.items():
        people = list(dict.fromkeys(c.person_id for c in colleagues))
        # Complete when every row was read, or a person past the first ``first`` was reached.
        if len(colleagues) < read or len(people) > first:
            kept = set(people[:first])
            found += [c for c in colleagues if c.person_id in kept]
        else:
            pending.append(oid)
    return found, pending


# The ready parts of a 360° view, in one statement (one snapshot): the person's document and the
# links row of each of its organisations, in the document's order.
# The offer catalogue's version (its row's transaction id, new at each change) rides along: a 360°
# answer needs the catalogue, which each API process keeps until the version it reads changes.
_CATALOGUE_VERSION = f"(SELECT xmin::text FROM {{schema}}.reference WHERE kind = '{OFFERS}' AND id = '{OFFERS}')"
READ_DOCUMENT = (
    "SELECT d.body, d.valid_from, d.valid_until, d.format, o.n, l.valid_from, l.valid_until, l.format, "
    f"l.organisation, l.people, l.entries, {_CATALOGUE_VERSION} FROM {{schema}}.person_document d "
    "LEFT JOIN LATERAL unnest(d.organisations) WITH ORDINALITY AS o(id, n) ON true "
    "LEFT JOIN {schema}.organisation_links l ON l.organisation_id = o.id "
    "WHERE d.person_id = %s ORDER BY o.n"
)

Stored = tuple[str, list[tuple[str, list[str], list[str]]]]
Rider = tuple[sql.Composable, tuple[Any, ...]]  # a write a read's statement carries: statement, parameters
_UNKNOWN = object()  # a catalogue version nobody read


def _lines(text: str) -> list[str]:
    return text.split("\n") if text else []


def ready(rows: list[tuple], day: date) -> Stored | None:
    """The stored parts if every one of them holds on ``day``; None if any is missing or stale."""
    if not rows:
        return None
    body, valid_from, until, made_in = rows[0][:4]
    if body is None or made_in != FORMAT or not valid_from <= day < until:
        return None
    organisations = []
    for *_, n, org_from, org_until, org_made_in, organisation, people, entries in rows:
        if n is None:
            continue  # no active organisation
        if organisation is None or org_made_in != FORMAT or not org_from <= day < org_until:
            return None
        organisations.append((organisation, _lines(people), _lines(entries)))
    return body, organisations


# The people a search statement (postgres_search) finds, with their views and the references of
# their functions (every one of them, ended ones too: the route shows them), in its one round trip.
SEARCHED_VIEWS = """WITH found AS MATERIALIZED ({found}),
people AS MATERIALIZED (SELECT v.view FROM {schema}.person_view v
 WHERE v.person_id IN (SELECT person_id FROM found) AND v.view IS NOT NULL)
SELECT NULL::text, NULL::text, p.view FROM people p
UNION ALL SELECT r.kind, r.id, r.view::json FROM {schema}.reference r WHERE r.kind = %(org)s
 AND r.id IN (SELECT f.value->>'organisation_id' FROM people p, json_each(p.view->'functions') f)
UNION ALL SELECT r.kind, r.id, r.view::json FROM {schema}.reference r WHERE r.kind = %(titles)s"""


def _searched_views(query: str, day: date, limit: int) -> tuple[str, dict[str, Any]]:
    statement, params = search(query, day, limit)
    return _with_views(statement), params | {"org": ORGANISATION}


@functools.cache
def _with_views(statement: str) -> str:
    """SEARCHED_VIEWS around a search statement: one string per statement (search's are few and
    made once), so ``_compose`` finds it by a hash already computed."""
    return SEARCHED_VIEWS.replace("{found}", statement)


def _views_found(rows: list[tuple]) -> tuple[list[PersonView], References]:
    """SEARCHED_VIEWS' rows: the people's views, and the references of their functions."""
    views = [view_from_json(view) for kind, _, view in rows if kind is None]
    organisations = {ident: view for kind, ident, view in rows if kind == ORGANISATION}
    titles = next((view.get("titles", {}) for kind, _, view in rows if kind == TITLES), {})
    return views, References(organisations, titles)


COMPOSED_KEPT = 64  # statements composed once (a few paths, a few search shapes, a schema or two)


class PostgresQueries:
    """The read side of ``PostgresStore``; ``_read_schema`` says which generation it reads."""

    _pool: ConnectionPool
    _loop_connections: LoopConnections  # the event loop's: the 360° view's and search's
    _composed: dict[tuple[str, str, str], bytes]  # statements composed once (_compose)
    _read_schema: Callable[[], sql.Identifier]  # PostgresStore's: the generation queries read

    def _rows(self, statement: str, params: Any = None) -> list[tuple]:
        """Run one query on the generation queries read. The schema is resolved before a connection
        is taken, so a request never holds one connection while waiting for another."""
        query = sql.SQL(statement).format(schema=self._read_schema())
        with self._pool.connection() as conn:
            return conn.execute(query, params).fetchall()

    def person(self, person_id: str) -> PersonView | None:
        rows = self._rows("SELECT view FROM {schema}.person_view WHERE person_id = %s", (person_id,))
        return view_from_json(rows[0][0]) if rows else None

    def persons(self, person_ids: Iterable[str]) -> dict[str, PersonView]:
        rows = self._rows("SELECT view FROM {schema}.person_view WHERE person_id = ANY(%s)", (list(person_ids),))
        return {view.person_id: view for view in (view_from_json(row[0]) for row in rows)}

    def person_document(self, person_id: str, day: date) -> Stored | None:
        """The ready 360° parts of the person for ``day`` (postgres_documents), or None."""
        return ready([row[:-1] for row in self._rows(READ_DOCUMENT, (person_id,))], day)

    def ready_360(self, person_id: str, day: date) -> tuple[Stored | None, dict[str, dict[str, Any]]]:
        """``person_document`` and the offer catalogue, in the one read while the catalogue this
        process keeps is the version that read saw (or there is none)."""
        rows = self._rows(READ_DOCUMENT, (person_id,))
        return ready([row[:-1] for row in rows], day), self._catalogue(rows[0][-1] if rows else _UNKNOWN)

    async def ready_360_async(
        self, person_id: str, day: date, rider: Rider | None = None
    ) -> tuple[Stored | None, dict[str, dict[str, Any]]]:
        """``ready_360`` on the event loop: the 360° view's hot path needs no thread. (Which
        generation to read is looked up at most once a second, on the pool: a short wait.) A
        ``rider`` is a write made by the read's own statement, in its transaction."""
        schema = self._read_schema()
        params = (person_id,) if rider is None else (*rider[1], person_id)
        async with self._loop_connections.connection() as conn:
            query = self._compose(READ_DOCUMENT, schema, conn, None if rider is None else rider[0])
            rows = await (await conn.execute(query, params)).fetchall()
            version = rows[0][-1] if rows else _UNKNOWN
            kept = getattr(self, "_catalogue_kept", None)
            if version is None or (version is not _UNKNOWN and kept is not None and kept[0] == version):
                catalogue = self._catalogue(version)  # no read: none, or the one kept
            else:
                catalogue_rows = await (await conn.execute(self._catalogue_query(), (OFFERS, OFFERS))).fetchall()
                catalogue = self._kept_catalogue(catalogue_rows)
        return ready([row[:-1] for row in rows], day), catalogue

    def person_context(self, person_id: str, day: date, links: int) -> PersonContext:
        """The person's view, the references of their functions active on ``day`` and the first
        ``links`` people of each of those organisations: one round trip (a pipeline), one snapshot
        (a read-only transaction), one connection. Only an organisation where people hold several
        functions each may need a second round (``colleagues``)."""
        schema = self._read_schema()
        params = {"org": ORGANISATION, "person": person_id, "day": day, "titles": TITLES, "rows": 2 * links}
        with self._pool.connection() as conn:
            with conn.pipeline():
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                views = conn.execute(sql.SQL(CONTEXT_VIEW).format(schema=schema), params)
                refs = conn.execute(sql.SQL(CONTEXT_REFERENCES).format(schema=schema), params)
                firsts = conn.execute(sql.SQL(CONTEXT_COLLEAGUES).format(schema=schema), params)
                conn.execute("COMMIT")
            view_rows, ref_rows, colleague_rows = views.fetchall(), refs.fetchall(), firsts.fetchall()
        organisations = {ident: view for kind, ident, view in ref_rows if kind == ORGANISATION}
        titles = next((view.get("titles", {}) for kind, _, view in ref_rows if kind == TITLES), {})
        found, pending = _first_people(colleague_rows, list(organisations), 2 * links, links)
        if pending:
            found += self.colleagues(pending, day, person_id, links)
        view = view_from_json(view_rows[0][0]) if view_rows else None
        return PersonContext(view, References(organisations, titles), found)

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
        """The first ``limit`` people every word of ``query`` matches, in the order results are listed:
        one statement on the indexes (postgres_search), however many people match, that brings their
        views and the references of their functions along."""
        return _views_found(self._searched(*_searched_views(query, day, limit)))

    async def search_candidates_async(self, query: str, day: date, limit: int) -> tuple[list[PersonView], References]:
        """``search_candidates`` on the event loop: a search needs no thread (as the 360° view)."""
        statement, params = _searched_views(query, day, limit)
        schema = self._read_schema()
        async with self._loop_connections.connection() as conn:
            async with conn.pipeline():
                await conn.execute("BEGIN READ ONLY")
                await conn.execute("SET LOCAL jit = off")
                found = await conn.execute(self._compose(statement, schema, conn), params, prepare=False)
                await conn.execute("COMMIT")
            return _views_found(await found.fetchall())

    def search_candidates_at(self, query: str, cut: Cut, limit: int) -> list[str]:
        """Up to ``limit`` people who may have matched at the cut (postgres_search_at), in one statement."""
        return [row[0] for row in self._searched(*search_at(query, cut, limit))]

    def _searched(self, statement: str, params: dict[str, Any]) -> list[tuple]:
        """The rows of a search statement. A statement of many branches looks costly to plan, and JIT
        would compile it for longer than it runs (~1 s against a few ms): off for this one, in the
        same round trip. Never prepared: its plan depends on the words' patterns, and the generic
        plan PostgreSQL falls back to for a prepared statement took 43 ms where a custom one takes 2
        (a million people)."""
        schema = self._read_schema()
        with self._pool.connection() as conn, conn.pipeline():
            conn.execute("BEGIN READ ONLY")
            conn.execute("SET LOCAL jit = off")
            found = conn.execute(self._compose(statement, schema, conn), params, prepare=False)
            conn.execute("COMMIT")
            return found.fetchall()

    def _compose(self, statement: str, schema: sql.Identifier, conn: Any, rider: sql.Composable | None = None) -> bytes:
        """``statement`` in the schema, with a rider's write first, composed once: the bytes sent.
        (The hot paths' statements are kilobytes: composing them cost more CPU than their reads.)"""
        key = (statement, repr(schema), repr(rider))  # psycopg's composables are not hashable; their reprs say it all
        composed = self._composed.get(key)
        if composed is None:
            if len(self._composed) > COMPOSED_KEPT:  # a generation switch leaves the old ones behind
                self._composed.clear()
            query = sql.SQL(statement).format(schema=schema)
            if rider is not None:
                query = sql.SQL("WITH rider AS ({}) ").format(rider) + query
            composed = self._composed[key] = query.as_bytes(conn)
        return composed

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

    def colleagues(self, organisation_ids: Iterable[str], day: date, excluding: str, first: int) -> list[Colleague]:
        found: list[Colleague] = []
        pending, rows = list(dict.fromkeys(organisation_ids)), 2 * first
        while pending:  # a person holds one function or a few at an organisation: rarely a second round
            read = self._rows(COLLEAGUES, colleagues_params(pending, day, excluding, rows))
            complete, pending = _first_people(read, pending, rows, first)
            found += complete
            rows *= 4
        return found

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

    def lead_rules(self) -> dict[str, Any]:
        rows = self._rows("SELECT view FROM {schema}.reference WHERE kind = %s AND id = %s", (LEAD_RULES, LEAD_RULES))
        return lead_rules(rows[0][0] if rows else None)

    def lead_pipeline(self) -> list[tuple[str, str, str, str, int]]:
        rows = self._rows(
            "SELECT stage, owner, source, prescriber, count(*) FROM {schema}.lead "
            "GROUP BY stage, owner, source, prescriber ORDER BY 1, 2, 3, 4"
        )
        return [(stage, owner, source, prescriber, count) for stage, owner, source, prescriber, count in rows]

    def audit_of(self, subjects: Sequence[str], limit: int) -> list[AuditEntry]:
        rows = self._rows(
            "SELECT entry FROM {schema}.audit WHERE subject = ANY(%s) ORDER BY at DESC, event_id DESC LIMIT %s",
            (list(subjects), limit),
        )
        return [_audit_entry(entry) for (entry,) in rows]

    def organisation(self, organisation_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT view FROM {schema}.reference WHERE kind = %s AND id = %s", (ORGANISATION, organisation_id)
        )
        return rows[0][0] if rows else None

    def timeline_after(
        self, person_ids: Sequence[str], marks: Mapping[tuple[str, int], int], limit: int
    ) -> list[TimelineEntry]:
        rows = self._rows(
            "SELECT t.person_id, t.event_id, t.event_type, t.channel, t.occurred_at, t.data::text, t.topic, "
            "t.partition, t.kafka_offset, t.message_key, t.status FROM {schema}.timeline t "
            "LEFT JOIN unnest(%(topics)s::text[], %(partitions)s::int[], %(offsets)s::bigint[]) AS m(topic, partition, next) "
            "ON m.topic = t.topic AND m.partition = t.partition "
            "WHERE t.person_id = ANY(%(people)s) AND t.kafka_offset >= coalesce(m.next, 0) "
            "ORDER BY t.topic, t.partition, t.kafka_offset LIMIT %(limit)s",
            {
                "people": list(dict.fromkeys(person_ids)),
                "topics": [topic for topic, _ in marks],
                "partitions": [partition for _, partition in marks],
                "offsets": list(marks.values()),
                "limit": limit,
            },
        )
        return [TimelineEntry(*row[:5], row[5].encode(), *row[6:]) for row in rows]

    def attribute_policy(self) -> dict[str, str]:
        rows = self._rows("SELECT view FROM {schema}.reference WHERE kind = %s AND id = %s", (POLICY, POLICY))
        return policy_levels(rows[0][0] if rows else None)

    def offer_catalogue(self) -> dict[str, dict[str, Any]]:
        return self._catalogue(_UNKNOWN)

    def _catalogue(self, version: Any) -> dict[str, dict[str, Any]]:
        """The catalogue of ``version`` (None: there is none), read unless it is the one kept."""
        if version is None:
            return {}
        kept = getattr(self, "_catalogue_kept", None)
        if version is not _UNKNOWN and kept is not None and kept[0] == version:
            return kept[1]
        with self._pool.connection() as conn:
            return self._kept_catalogue(conn.execute(self._catalogue_query(), (OFFERS, OFFERS)).fetchall())

    def _catalogue_query(self) -> sql.Composed:
        return sql.SQL("SELECT view, xmin::text FROM {schema}.reference WHERE kind = %s AND id = %s").format(
            schema=self._read_schema()
        )

    def _kept_catalogue(self, rows: list[tuple]) -> dict[str, dict[str, Any]]:
        catalogue = catalogue_offers(rows[0][0] if rows else None)
        if rows:
            self._catalogue_kept = (rows[0][1], catalogue)
        return catalogue

    def request_kinds(self) -> dict[str, dict[str, Any]]:
        rows = self._rows(
            "SELECT view FROM {schema}.reference WHERE kind = %s AND id = %s", (REQUEST_KINDS, REQUEST_KINDS)
        )
        return request_kinds(rows[0][0] if rows else None)


def _audit_entry(entry: dict[str, Any]) -> AuditEntry:
    return AuditEntry(**{**entry, "at": datetime.fromisoformat(entry["at"]), "roles": tuple(entry["roles"])})
