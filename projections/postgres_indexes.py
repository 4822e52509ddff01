"""The indexes that make links and search key lookups, whatever the number of people.

- Links: ``person_function`` carries each person's names (kept current by the projector, which
  rewrites a person's rows whenever their profile changes), in an index ordered as the 360° view
  lists colleagues: organisation, family name, given name, person id. The first people of an
  organisation are then read off the index, however many people it has.
- Search: people in the order results are listed (``person_search_rank``), and ``pg_trgm`` trigram
  indexes on every text search matches with ``LIKE '%word%'`` (given names, attributes and contact
  points, family names, function contacts, organisation names): see postgres_search. pg_trgm is a trusted extension
  (PostgreSQL 13+), so the database owner may create it; if it cannot be created, search keeps the
  same queries on sequential scans and says so once in the log.
- Search at a cut (postgres_search_at): the values events set, on the timeline's rows of the few
  event types that carry them (a partial trigram index), and the functions assigned by title and
  by organisation. Made once on a generation of an earlier release: a pass over its timeline.

Names are stored as '' when missing (a view never holds an empty name: registration turns "" into
None), so the index sorts them as the API does: ``(family_name or "", given_name or "", person_id)``
in code point order, which is the "C" collation's order on UTF-8.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from projections.postgres_search import upgrade_search
from projections.postgres_search_at import INDEXES as TRAVEL_INDEXES
from projections.postgres_search_at import TRIGRAM_INDEXES as TRAVEL_TRIGRAM_INDEXES

log = logging.getLogger(__name__)

# The order the 360° view lists colleagues in (directory.link_order); a query must order by these
# expressions for the links index to give it.
LINK_ORDER = 'pf.family_name, pf.given_name, pf.person_id COLLATE "C"'

_NAMED_FUNCTIONS = """
ALTER TABLE {schema}.person_function
    ADD COLUMN IF NOT EXISTS family_name text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS given_name text COLLATE "C" NOT NULL DEFAULT '';
"""

_BACKFILL_NAMES = """
UPDATE {schema}.person_function pf
SET family_name = coalesce(pv.view->>'family_name', ''), given_name = coalesce(pv.view->>'given_name', '')
FROM {schema}.person_view pv WHERE pv.person_id = pf.person_id AND pv.view IS NOT NULL;
"""

# Active-ness is checked on the index tuples (an index-only scan), so ended functions cost no heap visit.
_LINKS_INDEX = {
    "person_function_links": "CREATE INDEX person_function_links ON {schema}.person_function "
    '(organisation_id, family_name, given_name, person_id COLLATE "C") INCLUDE (title_code, entered_on, exits_on)',
}

# Search reads people in the order results are listed (postgres_search).
_SEARCH_INDEX = {
    "person_search_rank": "CREATE INDEX person_search_rank ON {schema}.person_search "
    '(family_name, given_name, person_id COLLATE "C")',
}

_TRIGRAM_INDEXES = {
    "search_name_lowered_trgm": "CREATE INDEX search_name_lowered_trgm ON {schema}.search_name USING gin (lowered {ops})",
    "person_search_text_trgm": "CREATE INDEX person_search_text_trgm ON {schema}.person_search USING gin (text {ops})",
    "person_function_contacts_trgm": "CREATE INDEX person_function_contacts_trgm ON {schema}.person_function "
    "USING gin (contacts {ops})",
    "reference_organisation_name_trgm": "CREATE INDEX reference_organisation_name_trgm ON {schema}.reference "
    "USING gin (lower(view->>'name') {ops}) WHERE kind = 'organisation'",
}

_warned_without_trigrams = False


def index_generation(conn: psycopg.Connection, schema_name: str) -> None:
    """Give one generation, new or created by an earlier release, the links and search indexes."""
    schema = sql.Identifier(schema_name)
    named = conn.execute(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'person_function' AND column_name = 'family_name'",
        (schema_name,),
    ).fetchone()
    if named is None:  # a generation of an earlier release: names from its views, once
        conn.execute(sql.SQL(_NAMED_FUNCTIONS).format(schema=schema))
        conn.execute(sql.SQL(_BACKFILL_NAMES).format(schema=schema))
    upgrade_search(conn, schema_name)
    # Only the missing ones: even CREATE INDEX IF NOT EXISTS locks the table against the projector's writes.
    present = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema_name,))}
    for name, ddl in (_LINKS_INDEX | _SEARCH_INDEX | TRAVEL_INDEXES).items():
        if name not in present:
            conn.execute(sql.SQL(ddl).format(schema=schema))
    missing = [ddl for name, ddl in (_TRIGRAM_INDEXES | TRAVEL_TRIGRAM_INDEXES).items() if name not in present]
    trigrams = trigram_schema(conn) if missing else None
    if trigrams is not None:
        ops = sql.SQL("{}.gin_trgm_ops").format(sql.Identifier(trigrams))
        for ddl in missing:
            conn.execute(sql.SQL(ddl).format(schema=schema, ops=ops))


def trigram_schema(conn: psycopg.Connection) -> str | None:
    """The schema pg_trgm lives in, creating the extension if needed; None if it cannot be had."""
    global _warned_without_trigrams
    found = _extension_schema(conn)
    if found is not None:
        return found
    try:
        with conn.transaction():  # a savepoint: a refusal leaves the caller's transaction usable
            # CREATE EXTENSION IF NOT EXISTS still fails when two sessions race: one at a time.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('crossview: create extension pg_trgm'))")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except psycopg.Error as error:
        if not _warned_without_trigrams:
            _warned_without_trigrams = True
            log.warning(
                "pg_trgm could not be created (%s): search works without trigram indexes, "
                "on sequential scans; a superuser can run CREATE EXTENSION pg_trgm in this database",
                str(error).strip(),
            )
        return None
    return _extension_schema(conn)


def _extension_schema(conn: psycopg.Connection) -> str | None:
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    ).fetchone()
    return row[0] if row else None
