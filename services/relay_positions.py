"""Where the relay keeps its position, and the lock that lets only one relay run per namespace."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool


class PostgresRelayPositions:
    def __init__(self, pool: ConnectionPool, namespace: str) -> None:
        self._pool = pool
        self._table = sql.Identifier(f"{namespace}_meta", "relay_position")
        self._lock_key = f"{namespace}:relay"
        self._lock_conn: psycopg.Connection | None = None
        with pool.connection() as conn, conn.transaction():
            # The projector creates the same schema at its start (projections/postgres_store.py):
            # the namespace's lock keeps the two CREATE ... IF NOT EXISTS from racing.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (namespace,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(f"{namespace}_meta")))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, notification_id bigint NOT NULL)"
                ).format(self._table)
            )

    def load(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT notification_id FROM {} WHERE name = 'relay'").format(self._table)
            ).fetchone()
        return row[0] if row else 0

    def save(self, notification_id: int) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (name, notification_id) VALUES ('relay', %s) "
                    "ON CONFLICT (name) DO UPDATE SET notification_id = excluded.notification_id"
                ).format(self._table),
                (notification_id,),
            )

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
