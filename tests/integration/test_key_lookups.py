"""Links and search read a bounded number of rows whatever the number of people (issue 11): the
plans PostgreSQL chooses on populated tables, and generations of an earlier release brought up to date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from projections.directory import link_order
from projections.postgres_queries import COLLEAGUES, colleagues_params
from projections.postgres_search import search
from projections.postgres_store import PostgresStore

DAY = date(2026, 11, 2)


def _schema(store: PostgresStore) -> str:
    return f'"{store._namespace}_g{store.generation}"'


def _plan(store: PostgresStore, statement: str, params: dict) -> dict:
    return store._rows("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)[0][0][0]["Plan"]


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_the_links_of_an_organisation_of_20000_people_read_the_index_a_few_rows_at_a_time(store):
    # 20,000 active people at Fabulous Garden and 10,000 who left, beside 10,000 elsewhere.
    with store._pool.connection() as conn:
        conn.execute(
            f"INSERT INTO {_schema(store)}.person_function (person_id, function_id, organisation_id, title_code, "
            "entered_on, exits_on, contacts, family_name, given_name) "
            "SELECT 'p' || i, 'f' || i, CASE WHEN i <= 30000 THEN 'fabulous-garden' ELSE 'o' || (i % 100) END, "
            "'ceo', date '2020-01-01', CASE WHEN i % 3 = 0 AND i <= 30000 THEN date '2021-01-01' END, '', "
            "'Family' || (i * 7919 % 5000), CASE WHEN i % 4 = 0 THEN '' ELSE 'Given' || (i % 50) END "
            "FROM generate_series(1, 40000) AS i"
        )
        conn.execute(f"ANALYZE {_schema(store)}.person_function")

    plan = _plan(store, COLLEAGUES, colleagues_params(["fabulous-garden"], DAY, "p1", 100))  # the store's first round

    scans = [node for node in _nodes(plan) if node.get("Relation Name") == "person_function"]
    assert [s.get("Index Name") for s in scans] == ["person_function_links"]
    assert scans[0]["Node Type"] in ("Index Only Scan", "Index Scan")  # index-only once vacuumed
    read = scans[0]["Actual Rows"] + scans[0].get("Rows Removed by Filter", 0)
    assert plan["Actual Rows"] == 100
    assert read < 300, f"{read} index entries read for the first 100 rows of 20,000 people"
    links = store.colleagues(["fabulous-garden"], DAY, "p1", 50)
    assert len(links) == 50
    assert links == sorted(links, key=link_order)


def test_a_rare_name_among_100000_people_is_found_through_the_trigram_index(store):
    with store._pool.connection() as conn:
        conn.execute(
            f"INSERT INTO {_schema(store)}.person_search (person_id, text, family_name, given_name) "
            "SELECT 'p' || i, 'given' || (i % 977) || ' p' || i || '@example.org', 'Family' || (i % 4999), "
            "'Given' || (i % 977) FROM generate_series(1, 100000) AS i"
        )
        conn.execute(f"UPDATE {_schema(store)}.person_search SET text = 'fabien bellemare' WHERE person_id = 'p4242'")
        conn.execute(f"ANALYZE {_schema(store)}.person_search")
    statement, params = search("bellemare", DAY, 20)

    plan = _plan(store, statement, params)

    indexes = {node.get("Index Name") for node in _nodes(plan)}
    assert "person_search_text_trgm" in indexes
    scans = [n for n in _nodes(plan) if n.get("Relation Name") == "person_search" and n.get("Actual Loops")]
    assert not [n for n in scans if n["Node Type"] == "Seq Scan"], [
        (n.get("Filter"), n.get("Actual Total Time")) for n in scans if n["Node Type"] == "Seq Scan"
    ]
    assert plan["Actual Rows"] == 1
    assert store._rows(statement, params) == [("p4242",)]


def test_a_generation_of_an_earlier_release_gets_the_names_and_the_indexes_at_install(store):
    # Before issue 11, person_function held no names and search had no trigram index.
    view = (
        '{"person_id": "fabien", "given_name": "Fabien", "family_name": "Bellemare", "functions": {}, "priority": []}'
    )
    schema = _schema(store)
    with store._pool.connection() as conn:
        for index in (
            "person_function_links",
            "person_search_text_trgm",
            "person_function_contacts_trgm",
            "reference_organisation_name_trgm",
        ):
            conn.execute(f"DROP INDEX {schema}.{index}")
        conn.execute(f"ALTER TABLE {schema}.person_function DROP COLUMN family_name, DROP COLUMN given_name")
        conn.execute(f"INSERT INTO {schema}.person_view VALUES ('fabien', %s), ('nameless', NULL)", (view,))
        conn.execute(
            f"INSERT INTO {schema}.person_function VALUES "
            "('fabien', 'f1', 'fabulous-garden', 'ceo', '2020-01-01', NULL, ''), "
            "('nameless', 'f2', 'fabulous-garden', 'cto', '2020-01-01', NULL, '')"
        )

    store.install()

    assert [
        (c.person_id, c.given_name, c.family_name) for c in store.colleagues(["fabulous-garden"], DAY, "x", 50)
    ] == [
        ("nameless", None, None),
        ("fabien", "Fabien", "Bellemare"),
    ]
    present = {
        row[0] for row in store._rows("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema.strip('"'),))
    }
    assert {"person_function_links", "person_search_text_trgm", "reference_organisation_name_trgm"} <= present
