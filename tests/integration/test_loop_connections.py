"""The event loop's connections (projections/postgres_pool.LoopConnections) behave as the pool does
when every one is busy: a caller waits a bounded time, then gets DatabaseUnavailable (the API's
503), never a request left hanging; a connection given back serves the next caller."""

from __future__ import annotations

import asyncio

import pytest

from projections import postgres_pool
from projections.postgres_pool import DatabaseUnavailable, LoopConnections


def test_a_caller_waits_a_bounded_time_while_every_connection_is_busy(settings, monkeypatch):
    monkeypatch.setattr(postgres_pool, "WAIT_S", 0.2)
    connections = LoopConnections(settings.database_url, most=1)

    async def busy_then_free() -> int:
        async with connections.connection() as conn:
            await conn.execute("SELECT 1")
            with pytest.raises(DatabaseUnavailable, match="no connection free"):
                async with connections.connection():
                    pass
        async with connections.connection() as conn:
            return (await (await conn.execute("SELECT 2")).fetchone())[0]

    try:
        assert asyncio.run(asyncio.wait_for(busy_then_free(), 10)) == 2  # a hang fails, not stalls
    finally:
        connections.close()
