"""Where the relay keeps its checkpoints, and the lock that lets only one relay run per namespace.

A checkpoint is written with the position, in one transaction, after every batch: any API process
can tell from it whether a command's events reached the log, and where (``landed``). The history
is kept for ``KEEP`` so that a reader asking about an older event still finds a checkpoint at or
past it; a checkpoint further on only makes the reader wait a little longer, never wrongly.
"""

from __future__ import annotations

import json

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from services.application.relay import Checkpoint, Marks

KEEP = "10 minutes"
PRUNE_EVERY = 100  # saves


class PostgresRelayPositions:
    def __init__(self, pool: ConnectionPool, namespace: str) -> None:
        self._pool = pool
        schema = f"{namespace}_meta"
        self._table = sql.Identifier(schema, "relay_position")
        self._checkpoints = sql.Identifier(schema, "relay_checkpoint")
        self._lock_key = f"{namespace}:relay"
        self._lock_conn: psycopg.Connection | None = None
        self._saves = 0
        with pool.connection() as conn, conn.transaction():
            # The projector creates the same schema at its start (projections/postgres_store.py):
            # the namespace's lock keeps the two CREATE ... IF NOT EXISTS from racing.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (namespace,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, notification_id bigint NOT NULL)"
                ).format(self._table)
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, marks jsonb NOT NULL, "
                    "recorded_at timestamptz NOT NULL DEFAULT now())"
                ).format(self._checkpoints)
            )

    def load(self) -> Checkpoint:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT p.notification_id, (SELECT c.marks FROM {} c ORDER BY c.notification_id DESC LIMIT 1) "
                    "FROM {} p WHERE p.name = 'relay'"
                ).format(self._checkpoints, self._table)
            ).fetchone()
        if row is None:
            return Checkpoint()
        return Checkpoint(row[0], _marks(row[1]))

    def save(self, checkpoint: Checkpoint) -> None:
        marks = json.dumps({f"{topic}:{partition}": offset for (topic, partition), offset in checkpoint.marks.items()})
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (name, notification_id) VALUES ('relay', %s) "
                    "ON CONFLICT (name) DO UPDATE SET notification_id = excluded.notification_id"
                ).format(self._table),
                (checkpoint.notification_id,),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (notification_id, marks) VALUES (%s, %s) "
                    "ON CONFLICT (notification_id) DO UPDATE SET marks = excluded.marks, recorded_at = now()"
                ).format(self._checkpoints),
                (checkpoint.notification_id, marks),
            )
            self._saves += 1
            if self._saves % PRUNE_EVERY == 0:  # the newest stays whatever its age: it is the relay's position
                conn.execute(
                    sql.SQL(
                        "DELETE FROM {0} WHERE recorded_at < now() - %s::interval "
                        "AND notification_id < (SELECT max(notification_id) FROM {0})"
                    ).format(self._checkpoints),
                    (KEEP,),
                )

    def landed(self, notification_id: int) -> Marks | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT marks FROM {} WHERE notification_id >= %s ORDER BY notification_id LIMIT 1").format(
                    self._checkpoints
                ),
                (notification_id,),
            ).fetchone()
        return None if row is None else _marks(row[0])

    def hold_lock(self, database_url: str) -> bool:
        """True while this process holds the relay lock (taken on first call, kept by a session)."""
        try:
            if self._lock_conn is None or self._lock_conn.closed:
                self._lock_conn = psycopg.connect(database_url, autocommit=True)
                self._held = False
            if not self._held:
                self._held = self._lock_conn.execute(
                    "SELECT pg_try_advisory_lock(hashtext(%s))", (self._lock_key,)
                ).fetchone()[0]
            else:
                self._lock_conn.execute("SELECT 1")  # still connected, so still held
            return self._held
        except psycopg.OperationalError:
            self._lock_conn = None
            return False

    def release(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.close()


def _marks(stored: dict | None) -> Marks:
    marks: Marks = {}
    for where, offset in (stored or {}).items():
        topic, partition = where.rsplit(":", 1)
        marks[(topic, int(partition))] = offset
    return marks
