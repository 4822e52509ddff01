"""Search at a cut on PostgreSQL: the people who may have matched a query as the log stood then
(projections/search_at.py says why they are all of them), read off the timeline's own rows.

One statement: the query's longest word drives — the rows the cut keeps whose values hold it (a
trigram index on those values, over the few event types that carry them), or that assigned a function
of a title or organisation it names (two small indexes) — and every word is checked on each person
so found, over their own rows (the timeline's person index). No table of its own: the timeline holds
every value ever set, with its time and place in the log, so a cut applies as for the 360° view, and
a generation made before this release answers all the same once its indexes are made.
"""

from __future__ import annotations

from typing import Any

from projections.as_of import Cut
from projections.postgres_as_of import cut_condition
from projections.reference_view import ORGANISATION, TITLES
from projections.search_at import ASSIGNED, TRACED

_TYPES = ", ".join(f"'{event_type}'" for event_type in sorted(TRACED))
PROFILE = f"event_type IN ({_TYPES})"


def traced(alias: str = "") -> str:
    """search_at.traced_text in SQL, the same expression as the index's (immutable, so one can hold it)."""
    fields = sorted({name for names in TRACED.values() for name in names})
    prefix = f"{alias}." if alias else ""
    return "lower(" + " || E'\\n' || ".join(f"coalesce({prefix}data->>'{name}', '')" for name in fields) + ")"


TRIGRAM_INDEXES = {
    "timeline_traced_trgm": f"CREATE INDEX timeline_traced_trgm ON {{schema}}.timeline USING gin (({traced()})"
    f" {{ops}}) WHERE {PROFILE}",
}
INDEXES = {
    "timeline_assigned_organisation": "CREATE INDEX timeline_assigned_organisation ON {schema}.timeline "
    f"((data->>'organisation_id')) WHERE event_type = '{ASSIGNED}'",
    "timeline_assigned_title": "CREATE INDEX timeline_assigned_title ON {schema}.timeline "
    f"((data->>'title_code')) WHERE event_type = '{ASSIGNED}'",
}

_NAMES = "u.event_type = '{assigned}' AND (u.data->>'organisation_id' = ANY({orgs}) OR u.data->>'title_code' = ANY({titles}))"


def _holds(alias: str, pattern: str, orgs: str, titles: str) -> str:
    names = _NAMES.replace("u.", f"{alias}.").format(assigned=ASSIGNED, orgs=orgs, titles=titles)
    return f"({traced(alias)} LIKE {pattern} OR ({names}))"


def search_at(query: str, cut: Cut, limit: int) -> tuple[str, list[Any]]:
    """The statement and its parameters: up to ``limit`` people who may have matched ``query`` at ``cut``."""
    words = query.lower().split() or [""]
    patterns = [f"%{_escape_like(word)}%" for word in words]
    driver = max(range(len(patterns)), key=lambda k: len(patterns[k]))
    kept, cut_params = cut_condition(cut, {})
    statement = (
        "WITH words AS MATERIALIZED (SELECT w.i, w.p,"
        f" ARRAY(SELECT r.id FROM {{schema}}.reference r WHERE r.kind = '{ORGANISATION}'"
        "  AND lower(r.view->>'name') LIKE w.p) AS orgs,"
        f" ARRAY(SELECT t.key FROM {{schema}}.reference r, jsonb_each(r.view->'titles') t WHERE r.kind = '{TITLES}'"
        "  AND (lower(t.key) LIKE w.p OR lower(t.value->>'label') LIKE w.p)) AS titles"
        " FROM unnest(%s::text[]) WITH ORDINALITY AS w(p, i)),"
        " driver AS MATERIALIZED (SELECT * FROM words WHERE i = %s)"
        " SELECT DISTINCT t.person_id FROM ("
        "  SELECT t.person_id, t.occurred_at, t.topic, t.partition, t.kafka_offset FROM {schema}.timeline t"
        f"  WHERE t.{PROFILE} AND {traced('t')} LIKE %s"
        "  UNION ALL SELECT t.person_id, t.occurred_at, t.topic, t.partition, t.kafka_offset FROM {schema}.timeline t"
        f"  WHERE t.event_type = '{ASSIGNED}' AND (t.data->>'organisation_id' = ANY((SELECT orgs FROM driver)::text[])"
        "   OR t.data->>'title_code' = ANY((SELECT titles FROM driver)::text[]))"
        f" ) t WHERE {kept} AND NOT EXISTS (SELECT 1 FROM words w WHERE NOT EXISTS (SELECT 1 FROM {{schema}}.timeline u"
        f"  WHERE u.person_id = t.person_id AND u.{PROFILE} AND {kept} AND {_holds('u', 'w.p', 'w.orgs', 'w.titles')}))"
        " LIMIT %s"
    )
    return statement, [patterns, driver + 1, patterns[driver], *cut_params, *cut_params, limit]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
