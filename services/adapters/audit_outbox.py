"""The audit trail's outbox: the access records of an API process are committed to PostgreSQL
before its answers leave — within the read's own statement, or one short transaction for every
record that arrived meanwhile — and a relay carries them to the audit topic in groups, at least
once (the trail keeps an access once, by its id, so a group published twice is harmless). The
relay is a thread of `crossview serve`, or of `crossview relay` for a deployment that keeps the
API's event loop to itself (`serve --no-relay`): the relay's thread and its Kafka client's take
the interpreter lock from the loop that serves the reads.

Why not Kafka straight away: an audited read waited for the broker's acknowledgement, ~10 ms at
the median under load, and the producer's work per record was the API's; a commit here costs one
WAL flush shared by every record of the round, and the relay's sends are few and large
(BENCHMARKS.md, authentication and audit). Any number of processes may drain the one table at
once: each takes rows the others have not locked (``SKIP LOCKED``), publishes them, deletes them."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from channels.kafka import BrokerUnavailable, Position
from projections.ports import StoreUnavailable
from projections.postgres_pool import LoopConnections
from schemas.envelope import CloudEvent
from services.application.audit import MAX_ROUNDS, access_events

log = logging.getLogger(__name__)

BATCH = 2_000  # rows a relay step takes: ~20 events of MAX_GROUP accesses
# A step reads on from the last row it took: the rows before it are deleted, and an index scan from
# the start steps over every one of them until a vacuum removes them (a queue table's dead prefix:
# tens of thousands under load, 3 ms a step). A row committed after a later one (its number taken
# first, its transaction slower) is behind the cursor: a step from the start, this often, takes it.
SWEEP_EVERY_S = 5.0
# Between two drains. The records are durable already; draining on every round would make the
# relay thread compete for the interpreter lock with the event loop that serves the reads.
EVERY_S = 0.25


def _outbox(namespace: str) -> sql.Identifier:
    return sql.Identifier(f"{namespace}_meta", "audit_outbox")


def _create_outbox(pool: ConnectionPool, namespace: str) -> None:
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (namespace,))  # processes start together
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(f"{namespace}_meta")))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (seq bigserial PRIMARY KEY, access text NOT NULL)").format(
                _outbox(namespace)
            )
        )
        # A queue: every row is deleted soon after it is written. Vacuumed by count of dead rows,
        # not by a share of the (near empty) live ones, and unthrottled: it is small.
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, "
                "autovacuum_vacuum_cost_delay = 0)"
            ).format(_outbox(namespace))
        )


class PostgresAuditOutbox:
    """The writing side, in every API process: keeps the Auditor's records."""

    def __init__(self, pool: ConnectionPool, database_url: str, namespace: str) -> None:
        self._pool = pool
        self._table = _outbox(namespace)
        # Rounds are written on the event loop itself (at most MAX_ROUNDS at once, the Auditor's):
        # a thread would wait for the interpreter lock that a busy loop holds, milliseconds each time.
        self._writers = LoopConnections(database_url, MAX_ROUNDS)
        _create_outbox(pool, namespace)
        # One text parameter, a record a line (JSON escapes every newline inside its strings):
        # psycopg's adaptation of a list of strings cost more than the INSERT itself.
        self._insert_one = sql.SQL("INSERT INTO {} (access) VALUES (%s)").format(self._table)
        self._insert = sql.SQL("INSERT INTO {} (access) SELECT unnest(string_to_array(%s, E'\\n'))").format(self._table)

    def ride(self, access: str) -> tuple[sql.Composable, tuple[str]]:
        """The Auditor's ``ride``: the write that keeps one access (its JSON) within a read's own
        statement (PostgresQueries.ready_360_async), committed with it."""
        return self._insert_one, (access,)

    async def keep(self, accesses: list[dict[str, Any]]) -> None:
        """The Auditor's ``Keep``: returns once the round's rows are committed (autocommit: the
        INSERT is its own transaction); DatabaseUnavailable when PostgreSQL does not answer."""
        rows = "\n".join(json.dumps(access, ensure_ascii=False) for access in accesses)
        async with self._writers.connection() as conn:
            await conn.execute(self._insert, (rows,))

    def backlog(self) -> int:
        """Records kept but not yet on the audit topic."""
        with self._pool.connection() as conn:
            return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table)).fetchone()[0]

    def close(self) -> None:
        self._writers.close()


class AuditOutboxRelay:
    """Carries the outbox to the audit topic: a thread of `crossview serve` (unless --no-relay) or
    of `crossview relay`. Any number may run at once: each takes rows the others have not locked."""

    def __init__(
        self,
        pool: ConnectionPool,
        namespace: str,
        publish: Callable[[Sequence[CloudEvent]], list[Position]],
        process: str | None = None,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._process = process or f"relay-{uuid.uuid4()}"  # the subject (and Kafka key) of its groups
        _create_outbox(pool, namespace)
        self._take = sql.SQL(
            "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} WHERE seq > %s ORDER BY seq LIMIT %s "
            "FOR UPDATE SKIP LOCKED) RETURNING seq, access"
        ).format(table=_outbox(namespace))
        self._after = 0  # the relay's cursor: the last row it took
        self._swept = 0.0  # when a step last started from the first row

    def relay_once(self) -> int:
        """Publish the oldest rows past the cursor that no other process holds (from the first row
        every SWEEP_EVERY_S); how many were published. They are deleted in the transaction that
        publishes them: a failed publication rolls it back."""
        now = time.monotonic()
        after = self._after
        if now - self._swept >= SWEEP_EVERY_S:
            after, self._swept = 0, now
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._take, (after, BATCH)).fetchall()
            if rows:
                self._publish(access_events(self._process, [json.loads(access) for (_, access) in rows]))
        if rows:
            self._after = max(seq for seq, _ in rows)
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop``, then once more: what was kept before the stop leaves with it."""
        while True:
            stopping = stop.is_set()
            try:
                while self.relay_once():
                    pass
            except (BrokerUnavailable, StoreUnavailable) as error:
                log.warning("audit relay: %s; retrying in 1 s", error)  # away for a while: one line a second
                if stopping:
                    return
                stop.wait(1)
            except Exception:  # anything else is a bug worth its traceback; the relay still goes on
                log.exception("audit relay: publishing failed; retrying")
                if stopping:
                    return
                stop.wait(1)
            if stopping:
                return
            stop.wait(EVERY_S)

    def start(self) -> Callable[[], None]:
        """Start the relay thread; returns what stops it (after a last drain)."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="audit-relay", daemon=True)
        thread.start()

        def close() -> None:
            stop.set()
            thread.join(timeout=10)

        return close
