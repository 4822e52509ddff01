"""Named read models: a generation a replay fills from the log up to an instant, beside the live one
(``crossview replay --until T --into NAME``), that queries read with ``model=NAME``.

``<namespace>_meta.models`` names each one's generation, its window (``from_at`` to ``until_at``) and
the log end offsets it replays to, fixed when it starts: a replay killed midway starts again from the
offsets its generation stored with its rows (the projector's exactly-once rule), toward the same end.
A rebuild's switch never drops their generations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql
from psycopg.types.json import Json
from psycopg_pool import ConnectionPool

from projections.as_of import Partition
from projections.postgres_generations import Generations


class ModelConflict(ValueError):
    """A read model of that name exists with another window, or is finished already."""


@dataclass(frozen=True)
class NamedModel:
    name: str
    generation: int
    until: datetime
    since: datetime | None
    targets: dict[Partition, int]  # the log's end offsets when the replay started
    finished_at: datetime | None


class Models:
    def __init__(self, pool: ConnectionPool, namespace: str) -> None:
        self._pool = pool
        self._generations = Generations(pool, namespace)
        self._namespace = namespace
        self._meta = sql.Identifier(f"{namespace}_meta")

    def find(self, name: str) -> NamedModel | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT name, generation, until_at, from_at, targets, finished_at FROM {meta}.models WHERE name = %s"
                ).format(meta=self._meta),
                (name,),
            ).fetchone()
        return _model(row) if row else None

    def start(
        self, name: str, until: datetime, since: datetime | None, targets: dict[Partition, int]
    ) -> tuple[NamedModel, bool]:
        """The model to fill, and whether it resumes an unfinished replay (same window: its stored
        targets are kept); a new one gets a fresh generation. ModelConflict otherwise."""
        self._generations.install()
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self._namespace}:model:{name}",))
            row = conn.execute(
                sql.SQL(
                    "SELECT name, generation, until_at, from_at, targets, finished_at FROM {meta}.models "
                    "WHERE name = %s FOR UPDATE"
                ).format(meta=self._meta),
                (name,),
            ).fetchone()
            if row is not None:
                found = _model(row)
                if found.finished_at is not None:
                    raise ModelConflict(f"the read model {name!r} is made already (on {found.finished_at:%Y-%m-%d})")
                if (found.until, found.since) != (until, since):
                    raise ModelConflict(
                        f"the read model {name!r} is being made with another window "
                        f"(--from {found.since.isoformat() if found.since else '-'} --until {found.until.isoformat()})"
                    )
                return found, True
            generation = self._generations.create_next(conn)
            stored = {f"{topic}:{partition}": offset for (topic, partition), offset in sorted(targets.items())}
            conn.execute(
                sql.SQL(
                    "INSERT INTO {meta}.models (name, generation, until_at, from_at, targets) VALUES (%s, %s, %s, %s, %s)"
                ).format(meta=self._meta),
                (name, generation, until, since, Json(stored)),
            )
            return NamedModel(name, generation, until, since, dict(targets), None), False

    def all(self) -> list[NamedModel]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT name, generation, until_at, from_at, targets, finished_at FROM {meta}.models ORDER BY name"
                ).format(meta=self._meta)
            ).fetchall()
        return [_model(row) for row in rows]

    def drop(self, name: str) -> bool:
        """Drop the read model and its generation; whether there was one."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self._namespace}:model:{name}",))
            row = conn.execute(
                sql.SQL("DELETE FROM {meta}.models WHERE name = %s RETURNING generation").format(meta=self._meta),
                (name,),
            ).fetchone()
            if row is None:
                return False
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(self._generations.schema(row[0])))
            conn.execute(
                sql.SQL("DELETE FROM {meta}.generations WHERE generation = %s").format(meta=self._meta), (row[0],)
            )
            return True

    def finish(self, name: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL("UPDATE {meta}.models SET finished_at = now() WHERE name = %s").format(meta=self._meta),
                (name,),
            )


def _model(row: tuple) -> NamedModel:
    name, generation, until, since, targets, finished_at = row
    partitions = {(where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1])): offset for where, offset in targets.items()}
    return NamedModel(name, generation, until, since, partitions, finished_at)
