"""Whole read models, read in pages from the active generation: what exports snapshot.

A server-side cursor pages through every person view, so a million people cost a page of memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from projections.person_codec import view_from_json
from projections.person_model import PersonView
from projections.postgres_generations import Generations
from projections.reference_view import ORGANISATION, TITLES

PAGE = 5_000


class ReadModelSnapshots:
    def __init__(self, pool: ConnectionPool, namespace: str) -> None:
        self._pool = pool
        self._generations = Generations(pool, namespace)

    def _schema(self) -> sql.Identifier:
        return self._generations.schema(self._generations.active_generation())

    def people(self) -> Iterator[list[PersonView]]:
        """Every person view, a page at a time, in person id order."""
        with self._pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(name="crossview_snapshot_people")
            cursor.itersize = PAGE
            cursor.execute(
                sql.SQL("SELECT view FROM {s}.person_view WHERE view IS NOT NULL ORDER BY person_id").format(
                    s=self._schema()
                )
            )
            while page := cursor.fetchmany(PAGE):
                yield [view_from_json(view) for (view,) in page]

    def references(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """(organisation id -> its document, title code -> {label, retired})."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT kind, id, view FROM {s}.reference WHERE kind IN (%s, %s)").format(s=self._schema()),
                (ORGANISATION, TITLES),
            ).fetchall()
        organisations = {i: view for kind, i, view in rows if kind == ORGANISATION}
        titles = next((view.get("titles", {}) for kind, _, view in rows if kind == TITLES), {})
        return organisations, titles
