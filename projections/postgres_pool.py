"""The PostgreSQL connection pool that the projection store, the data keys and the used tokens share."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL does not answer at the configured address."""


def where(database_url: str) -> str:
    """host:port/dbname of a connection URL, without its credentials (for messages)."""
    info = conninfo_to_dict(database_url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def open_pool(database_url: str, max_size: int = 8) -> ConnectionPool:
    pool = ConnectionPool(database_url, min_size=1, max_size=max_size, open=False, kwargs={"autocommit": True})
    try:
        pool.open(wait=True, timeout=15)
    except PoolTimeout as error:
        pool.close()
        raise DatabaseUnavailable(f"PostgreSQL at {where(database_url)} does not answer ({error})") from error
    return pool
