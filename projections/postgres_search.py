"""Search on PostgreSQL: the rows it reads, kept by the projector, and the one statement that finds
the first people of a query in the order the API lists them.

The answer must be directory.matches' (every word of the query in the person's names, contacts or
active functions; people joined into another never), the first ``limit`` of them in (family name,
given name, person id) order. Reading every match and sorting it is a full scan for a common word,
so the statement reads people in that order off an index wherever matches are many, and gathers
them from the trigram indexes only where they are few:

- ``person_search`` holds one row per person search may find: the lower-cased given name,
  person-level attribute values and contact points (``text``, trigram-indexed), and the names in
  the order's collation (``person_search_rank`` index). A family name is not in ``text``: it is
  matched through ``search_name``, the family names with their lower-cased form (a small table,
  trigram-indexed), so the people of a common family name are read in order off the rank index,
  never gathered one by one.
- A word also matches through the person's functions active on the day asked about: the name of
  the organisation, the title's code or label, the function's attribute values (``person_function``).
- For each word, the statement counts, up to ``CAP``, the people its text, functions and family
  names give. Among the words whose text and function matches are within ``CAP``, one with the
  fewest people in all drives (else one with the fewest text and function matches): its family names
  are read in order, its text and function matches gathered and sorted; every word is checked on
  each person read.
- When no word is rare on its own (or the rarest is a family name many hold) but together they are
  ("Simon Léa", "Claire Fabien"), the words' text and family-name matches are ANDed on the indexes,
  every word's function matches added, and the lot sorted, up to TOGETHER people. Past that, or
  when one word's function matches are many, people are read in order from the first (or off the
  driver's family names) and the first ``limit`` kept.
"""

from __future__ import annotations

import functools
import zlib
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from projections.person_codec import view_from_json
from projections.person_model import PersonView
from projections.reference_view import ORGANISATION, TITLES

# Up to this many people, a word's text and function matches are gathered and sorted; beyond, the
# word is common, and people are better read in order.
CAP = 2000

RANK = 's.family_name, s.given_name, s.person_id COLLATE "C"'

_ACTIVE = "f.entered_on <= %(day)s AND (f.exits_on IS NULL OR f.exits_on >= %(day)s)"

# Whether person ``s`` holds word ``w`` (directory.searchable_text, per part): text first, the cheapest.
_HOLDS = (
    "(s.text LIKE w.p"
    " OR EXISTS (SELECT 1 FROM {schema}.search_name n WHERE n.family_name = s.family_name AND n.lowered LIKE w.p)"
    " OR EXISTS (SELECT 1 FROM {schema}.person_function f WHERE f.person_id = s.person_id AND " + _ACTIVE + ""
    " AND (f.contacts LIKE w.p OR f.title_code = ANY(w.titles) OR EXISTS (SELECT 1 FROM {schema}.reference r"
    " WHERE r.kind = %(org)s AND r.id = f.organisation_id AND lower(r.view->>'name') LIKE w.p))))"
)
_EVERY_WORD = f"NOT EXISTS (SELECT 1 FROM words w WHERE NOT {_HOLDS})"


# At most this many words (the longest) are considered to drive; every word is checked on each person.
DRIVERS = 4


def _capped(condition: str) -> str:
    return (
        f"(SELECT count(*) FROM (SELECT 1 FROM {{schema}}.person_function f WHERE {condition} AND {_ACTIVE}"
        " LIMIT %(cap)s + 1) x)"
    )


def _size(k: int) -> str:
    """How many people word ``k`` (of the drivers) gives through text, functions and family names,
    each part counted up to CAP + 1 on its own index: the word's pattern is a parameter the plan
    sees. (Without the family names, "Petit Anne" let "petit" drive: 80,000 Petits read in order,
    none an Anne, 4.7 s at a million people.)"""
    return (
        f"SELECT w.*, (SELECT count(*) FROM (SELECT 1 FROM {{schema}}.person_search s"
        f" WHERE s.text LIKE %(p{k})s LIMIT %(cap)s + 1) x) AS by_text, "
        + _capped(f"f.contacts LIKE %(p{k})s")
        + " + CASE WHEN cardinality(w.titles) = 0 THEN 0 ELSE "
        + _capped("f.title_code = ANY(w.titles)")
        + " END + CASE WHEN cardinality(w.orgs) = 0 THEN 0 WHEN cardinality(w.orgs) > %(cap)s THEN %(cap)s + 1 ELSE "
        + _capped("f.organisation_id = ANY(w.orgs)")
        + " END AS by_function, "
        f"(SELECT count(*) FROM (SELECT 1 FROM {{schema}}.search_name n JOIN {{schema}}.person_search s"
        f" ON s.family_name = n.family_name WHERE n.lowered LIKE %(p{k})s LIMIT %(cap)s + 1) x) AS by_family"
        f" FROM words w WHERE w.i = %(i{k})s"
    )


# The query's words: each one's pattern, and the organisations and titles whose names hold it.
_WORDS = (
    "WITH words AS MATERIALIZED ("
    " SELECT w.i, w.p,"
    "  ARRAY(SELECT r.id FROM {schema}.reference r WHERE r.kind = %(org)s AND lower(r.view->>'name') LIKE w.p"
    "   LIMIT %(cap)s + 1) AS orgs,"
    "  ARRAY(SELECT t.key FROM {schema}.reference r, jsonb_each(r.view->'titles') t WHERE r.kind = %(titles)s"
    "   AND (lower(t.key) LIKE w.p OR lower(t.value->>'label') LIKE w.p)) AS titles"
    " FROM unnest(%(patterns)s::text[]) WITH ORDINALITY AS w(p, i))"
)

# Every word too short to drive: people read in order from the first, each checked on every word.
IN_ORDER = (
    _WORDS
    + " SELECT s.person_id FROM {schema}.person_search s WHERE "
    + _EVERY_WORD
    + " ORDER BY "
    + RANK
    + " LIMIT %(limit)s"
)

# A word shorter than a trigram has no trigram to look up: counting its people "on the index" reads
# the whole index (1.4 s for "ma" at a million people). Such a word is common anyway; it never drives.
SHORTEST_DRIVER = 3


# Past this many people holding every word in their text or family name, the words are common even
# together: people are read in order instead (the first ones hold them, so the read stops soon).
TOGETHER = 20_000


def _text_or_family(k: int) -> str:
    """Whether ``s`` holds word ``k`` in its text or family name: both on their own index, the pattern
    a parameter the plan sees (bitmaps the statement ANDs over the words)."""
    return (
        f"(s.text LIKE %(p{k})s OR s.family_name = ANY(ARRAY(SELECT n.family_name FROM {{schema}}.search_name n"
        f" WHERE n.lowered LIKE %(p{k})s)))"
    )


def _together(drivers: int) -> str:
    """No word is rare on its own ("Simon Léa": 80,000 Simons, 83,000 Léas), but together they may
    be: their text and family-name matches, ANDed on the indexes, when no word drives on few people
    and every word's function matches are few enough to gather (``wide``: whether they were)."""
    return (
        "together_on AS MATERIALIZED (SELECT"
        " NOT EXISTS (SELECT 1 FROM driver WHERE by_text + by_function + by_family <= %(cap)s)"
        " AND NOT EXISTS (SELECT 1 FROM sizes WHERE by_function > %(cap)s) AS yes),"
        "together AS MATERIALIZED ("
        " SELECT s.person_id, s.family_name, s.given_name, s.text FROM {schema}.person_search s"
        " WHERE (SELECT yes FROM together_on) AND "
        + " AND ".join(_text_or_family(k) for k in range(drivers))
        + " LIMIT %(together)s + 1),"
        "wide AS MATERIALIZED (SELECT (SELECT yes FROM together_on)"
        " AND (SELECT count(*) FROM together) <= %(together)s AS together),"
    )


@functools.cache  # a handful of shapes, made once: the same string each time
def search_statement(drivers: int) -> str:
    """The statement for a query whose ``drivers`` longest words may drive (search_params)."""
    sizes = " UNION ALL ".join(f"({_size(k)})" for k in range(drivers))
    by_function = "SELECT f.person_id FROM {schema}.person_function f WHERE " + _ACTIVE + " AND f."
    return (
        _WORDS + ","
        f"sizes AS MATERIALIZED ({sizes}),"
        "driver AS MATERIALIZED ("
        " SELECT * FROM sizes WHERE by_text <= %(cap)s AND by_function <= %(cap)s"
        # A word few people hold in all drives before one read off a common family name's people.
        " ORDER BY by_text + by_function + by_family > %(cap)s, by_text + by_function + by_family, i LIMIT 1),"
        + (_together(drivers) if drivers > 1 else "wide AS MATERIALIZED (SELECT false AS together),")
        # The words whose text and function matches are gathered: the driver's, or (together) every
        # word's function matches (their text matches are in ``together``).
        + "gathered AS MATERIALIZED (SELECT i FROM driver WHERE NOT (SELECT together FROM wide)"
        " UNION SELECT i FROM sizes WHERE (SELECT together FROM wide)),"
        "hits AS MATERIALIZED ("
        + " UNION ".join(
            # The pattern as a parameter the plan sees (the trigram index), on the gathered words only.
            f"SELECT s.person_id FROM {{schema}}.person_search s WHERE (SELECT i FROM driver) = %(i{k})s"
            f" AND NOT (SELECT together FROM wide) AND s.text LIKE %(p{k})s"
            f" UNION {by_function}contacts LIKE %(p{k})s AND %(i{k})s IN (SELECT i FROM gathered)"
            for k in range(drivers)
        )
        # A title's or an organisation's people on their index, one at a time: a gathered word's are
        # CAP at most, each (an array of them read as one condition made the plan read every function).
        + " UNION SELECT x.person_id FROM words w, unnest(w.titles) t(code), LATERAL (SELECT f.person_id"
        " FROM {schema}.person_function f WHERE f.title_code = t.code AND " + _ACTIVE + " LIMIT %(cap)s) x"
        " WHERE w.i IN (SELECT i FROM gathered)"
        " UNION SELECT x.person_id FROM words w, unnest(w.orgs) o(id), LATERAL (SELECT f.person_id"
        " FROM {schema}.person_function f WHERE f.organisation_id = o.id AND " + _ACTIVE + " LIMIT %(cap)s) x"
        " WHERE w.i IN (SELECT i FROM gathered)),"
        "found AS ("
        # The driver's family names: their people in order, off the rank index.
        " (SELECT s.person_id, s.family_name, s.given_name FROM {schema}.person_search s"
        "  WHERE NOT (SELECT together FROM wide) AND s.family_name = ANY(ARRAY(SELECT n.family_name"
        "   FROM {schema}.search_name n WHERE n.lowered LIKE (SELECT p FROM driver)))"
        "  AND " + _EVERY_WORD + " ORDER BY " + RANK + " LIMIT %(limit)s)"
        " UNION (SELECT s.person_id, s.family_name, s.given_name FROM {schema}.person_search s"
        "  WHERE s.person_id = ANY(ARRAY(SELECT person_id FROM hits)) AND "
        + _EVERY_WORD
        + ")"
        # Together: in order, each checked (on the words that did not drive) until enough are found.
        + (
            " UNION (SELECT s.person_id, s.family_name, s.given_name FROM (SELECT * FROM together s"
            "  WHERE (SELECT together FROM wide) ORDER BY " + RANK + " OFFSET 0) s"
            "  WHERE " + _EVERY_WORD + " LIMIT %(limit)s)"
            if drivers > 1
            else ""
        )
        +  # No driver: every word is common; people in order from the first.
        " UNION (SELECT s.person_id, s.family_name, s.given_name FROM {schema}.person_search s"
        "  WHERE NOT EXISTS (SELECT 1 FROM driver) AND NOT (SELECT together FROM wide) AND "
        + _EVERY_WORD
        + " ORDER BY "
        + RANK
        + " LIMIT %(limit)s))"
        "SELECT s.person_id FROM found s ORDER BY " + RANK + " LIMIT %(limit)s"
    )


def search(query: str, day: date, limit: int) -> tuple[str, dict[str, Any]]:
    """The statement and its parameters for ``query``: the longest words may drive."""
    words = query.lower().split()
    patterns = [f"%{_escape_like(word)}%" for word in words] or ["%"]
    may_drive = [k for k, word in enumerate(words) if len(word) >= SHORTEST_DRIVER]
    drivers = sorted(may_drive, key=lambda k: -len(patterns[k]))[:DRIVERS]
    params = {"patterns": patterns, "day": day, "limit": limit, "cap": CAP, "together": TOGETHER}
    params |= {"org": ORGANISATION, "titles": TITLES}
    if not drivers:
        return IN_ORDER, params
    for k, word in enumerate(drivers):
        params |= {f"i{k}": word + 1, f"p{k}": patterns[word]}
    return search_statement(len(drivers)), params


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_row(view: PersonView) -> tuple[str, str, str, str] | None:
    """The person's row of person_search, None for someone joined into another (never a result)."""
    if view.merged_into is not None:
        return None
    text = " ".join(
        [
            view.given_name or "",
            *(a for a in view.attributes.values() if a),
            *(c.split(":", 1)[1] for c in view.contact_points),
        ]
    ).lower()
    return view.person_id, text, view.family_name or "", view.given_name or ""


# Advisory locks over family names (one per bucket of names, so a batch takes a few dozen at most).
_NAME_LOCKS, _NAME_LOCK_CLASS = 64, 0x5EA2C4


def reindex_search(conn: psycopg.Connection, schema: sql.Identifier, views: list[PersonView]) -> None:
    """Rewrite the search rows of these people (their profile changed), and the family names.

    A family name is added when someone holds it and removed when nobody does any more (a rename,
    an erasure: an erased person's name must leave the read models). Two projectors may add and
    remove the same name at once: each takes a lock per bucket of names, shared to add, exclusive to
    remove, in bucket order, so a removal counts the holders only once every addition in flight
    committed, and an addition after it waits for it."""
    if not views:
        return
    ids = [view.person_id for view in views]
    rows = [row for row in map(search_row, views) if row is not None]
    q = lambda statement: sql.SQL(statement).format(schema=schema)  # noqa: E731
    before = {
        name
        for (name,) in conn.execute(
            q("SELECT DISTINCT family_name FROM {schema}.person_search WHERE person_id = ANY(%s)"), (ids,)
        )
    }
    after = {row[2] for row in rows}
    gone, held = sorted(before - after - {""}), sorted(after - {""})
    buckets = {_bucket(name): False for name in held} | {_bucket(name): True for name in gone}
    if buckets:
        order = sorted(buckets)
        conn.execute(
            "SELECT CASE WHEN l.exclusive THEN (SELECT 1 FROM pg_advisory_xact_lock(%s, l.bucket))"
            " ELSE (SELECT 1 FROM pg_advisory_xact_lock_shared(%s, l.bucket)) END"
            " FROM unnest(%s::integer[], %s::boolean[]) WITH ORDINALITY AS l(bucket, exclusive, n) ORDER BY l.n",
            (_NAME_LOCK_CLASS, _NAME_LOCK_CLASS, order, [buckets[b] for b in order]),
        )
    conn.execute(q("DELETE FROM {schema}.person_search WHERE person_id = ANY(%s)"), (ids,))
    if rows:
        with conn.cursor().copy(
            q("COPY {schema}.person_search (person_id, text, family_name, given_name) FROM STDIN")
        ) as copy:
            for row in rows:
                copy.write_row(row)
    if held:
        conn.execute(
            q(
                "INSERT INTO {schema}.search_name (family_name, lowered) SELECT * FROM unnest(%s::text[], %s::text[]) "
                "ON CONFLICT DO NOTHING"
            ),
            (held, [name.lower() for name in held]),
        )
    if gone:
        conn.execute(
            q(
                "DELETE FROM {schema}.search_name n WHERE n.family_name = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM {schema}.person_search s WHERE s.family_name = n.family_name)"
            ),
            (gone,),
        )


def _bucket(name: str) -> int:
    return zlib.crc32(name.encode()) % _NAME_LOCKS


def upgrade_search(conn: psycopg.Connection, schema_name: str) -> None:
    """Bring person_search of a generation made by an earlier release (names in ``text``, no order,
    joined people kept) to this one: its rows rewritten from the views, once."""
    schema = sql.Identifier(schema_name)
    ordered = conn.execute(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'person_search' AND column_name = 'family_name'",
        (schema_name,),
    ).fetchone()
    if ordered is not None:
        return
    conn.execute(
        sql.SQL(
            "ALTER TABLE {schema}.person_search "
            "ADD COLUMN family_name text COLLATE \"C\" NOT NULL DEFAULT '', "
            "ADD COLUMN given_name text COLLATE \"C\" NOT NULL DEFAULT ''; "
            'CREATE TABLE {schema}.search_name (family_name text COLLATE "C" PRIMARY KEY, lowered text NOT NULL)'
        ).format(schema=schema)
    )
    with conn.cursor(name="crossview_upgrade_search") as views:
        views.itersize = 5000
        views.execute(
            sql.SQL(
                "SELECT v.view FROM {schema}.person_view v JOIN {schema}.person_search s USING (person_id) "
                "WHERE v.view IS NOT NULL"
            ).format(schema=schema)
        )
        batch: list[PersonView] = []
        for (document,) in views:
            batch.append(view_from_json(document))
            if len(batch) == 5000:
                reindex_search(conn, schema, batch)
                batch = []
        reindex_search(conn, schema, batch)
