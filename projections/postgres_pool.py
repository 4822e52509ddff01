"""The PostgreSQL connection pool that the projection store, the data keys and the used tokens share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from projections.ports import StoreUnavailable


class DatabaseUnavailable(StoreUnavailable):
    """PostgreSQL does not answer at the configured address (or cut the connection in use)."""


def where(database_url: str) -> str:
    """host:port/dbname of a connection URL, without its credentials (for messages)."""
    info = conninfo_to_dict(database_url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class _Pool(ConnectionPool):
    """A pool whose lost connections are one named error: a database that restarts or goes away
    raises DatabaseUnavailable from whatever used the connection, so the projector retries from
    its stored offsets and the API answers 503, instead of each caller knowing psycopg's errors.
    The pool drops a broken connection when it comes back, so the next borrow connects anew."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        try:
            with super().connection(timeout) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as error:
            if not _lost(error):
                raise
            raise DatabaseUnavailable(f"PostgreSQL at {where(self.conninfo)} did not answer ({error})") from error


def _lost(error: Exception) -> bool:
    """A connection lost or refused, not an answer of a live server (a lock wait cancelled, a deadlock)."""
    return not isinstance(error, psycopg.errors.QueryCanceled | psycopg.errors.TransactionRollback)


# A caller waits at most this long for a connection (psycopg's default is 30 s): with PostgreSQL
# away or every connection busy, a request answers 503 soon and the projector retries, instead of
# both hanging.
WAIT_S = 5.0


def open_pool(database_url: str, max_size: int = 8) -> ConnectionPool:
    pool = _Pool(database_url, min_size=1, max_size=max_size, open=False, timeout=WAIT_S, kwargs={"autocommit": True})
    try:
        pool.open(wait=True, timeout=15)
    except PoolTimeout as error:
        pool.close()
        raise DatabaseUnavailable(f"PostgreSQL at {where(database_url)} does not answer ({error})") from error
    return pool


class LoopConnections:
    """Connections for coroutines, so that a hot read needs no thread: handing a query to the thread
    pool and back made the interpreter lock change hands twice, which cost a busy API more than
    the query (BENCHMARKS.md). A psycopg async connection serves the event loop that opened it
    only: they are opened on the loop that asks (a new loop, as in tests, starts afresh), at most
    ``most`` at once, kept between uses (autocommit, as the pool's)."""

    def __init__(self, database_url: str, most: int = 8) -> None:
        self._database_url = database_url
        self._most = most
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(most)
        self._idle: list[psycopg.AsyncConnection] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self.close()
            self._loop, self._slots = loop, asyncio.Semaphore(self._most)
        slots = self._slots
        try:  # as the pool's: a caller waits WAIT_S at most for a connection, then answers 503
            await asyncio.wait_for(slots.acquire(), WAIT_S)
        except TimeoutError as error:
            raise DatabaseUnavailable(
                f"PostgreSQL at {where(self._database_url)} did not answer (no connection free after {WAIT_S:.0f} s)"
            ) from error
        try:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                await conn.close()
                if not _lost(error):
                    raise
                raise DatabaseUnavailable(
                    f"PostgreSQL at {where(self._database_url)} did not answer ({error})"
                ) from error
            except BaseException:
                await conn.close()  # in whatever state the failure left it
                raise
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                self._idle.append(conn)
            else:
                await conn.close()
        finally:
            slots.release()

    async def _connect(self) -> psycopg.AsyncConnection:
        try:
            return await psycopg.AsyncConnection.connect(self._database_url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(f"PostgreSQL at {where(self._database_url)} does not answer ({error})") from error

    def close(self) -> None:
        """Close the idle connections (from any thread: libpq's own close, no loop needed)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()
