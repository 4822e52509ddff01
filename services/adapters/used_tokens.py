"""Signature tokens a provider promises to use once (Mailgun's): a second use is a replay.

The memory serves the embedded default; PostgreSQL serves every API process of a deployment at
once, and survives restarts. A token is forgotten again when its request could not be published,
because the provider retries with the same token.
"""

from __future__ import annotations

import threading
import time

from psycopg import sql
from psycopg_pool import ConnectionPool

DEFAULT_MAX_AGE_S = 86_400  # when webhooks may be any age, remember tokens a day


class MemoryUsedTokens:
    def __init__(self, max_age_s: int) -> None:
        self._max_age_s = max_age_s or DEFAULT_MAX_AGE_S
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def first_use(self, provider: str, token: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {key: at for key, at in self._seen.items() if now - at < self._max_age_s}
            if (provider, token) in self._seen:
                return False
            self._seen[provider, token] = now
            return True

    def forget(self, provider: str, token: str) -> None:
        with self._lock:
            self._seen.pop((provider, token), None)


class PostgresUsedTokens:
    PURGE_EVERY = 1_000  # uses between two purges of tokens older than the accepted age

    def __init__(self, pool: ConnectionPool, namespace: str, max_age_s: int) -> None:
        self._pool = pool
        self._max_age_s = max_age_s or DEFAULT_MAX_AGE_S
        self._table = sql.Identifier(f"{namespace}_meta", "used_tokens")
        self._uses = 0
        with pool.connection() as conn, conn.transaction():
            # API processes starting together (serve --workers) would race their CREATE ... IF NOT
            # EXISTS into a unique violation: the namespace's lock takes them one at a time.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (namespace,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(f"{namespace}_meta")))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (provider text, token text, used_at timestamptz NOT NULL, "
                    "PRIMARY KEY (provider, token))"
                ).format(self._table)
            )

    def first_use(self, provider: str, token: str) -> bool:
        self._uses += 1
        with self._pool.connection() as conn:
            if self._uses % self.PURGE_EVERY == 0:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE used_at < now() - make_interval(secs => %s)").format(self._table),
                    (self._max_age_s,),
                )
            inserted = conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, now()) ON CONFLICT DO NOTHING").format(self._table),
                (provider, token),
            )
            return inserted.rowcount == 1

    def forget(self, provider: str, token: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE provider = %s AND token = %s").format(self._table), (provider, token)
            )
