"""The edge fuzz on PostgreSQL and Kafka: what the in-memory default cannot show (text PostgreSQL
refuses, the relay on the real event store) answers 4xx, never 5xx, and nothing stalls the log."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient

from projections.postgres_store import open_pool
from services.adapters.dead_letters import read_dead_letters
from services.adapters.relay_positions import PostgresRelayPositions
from services.application.relay import last_notification_id
from services.bootstrap import production
from services.http.app import create_app
from tests.fuzzing import fuzz
from tests.live import ProjectorThread, wait_until
from tests.tokens import EVERY_ROLE_TOKEN

SCALE = int(os.environ.get("CROSSVIEW_FUZZ_SCALE", "1"))
SEED = int(os.environ.get("CROSSVIEW_FUZZ_SEED", "20261130"))


def test_generated_requests_on_the_real_services_are_never_a_server_error_and_the_relay_keeps_up(settings):
    configured = settings.model_copy(update={"insecure_skip_signatures": True, "max_wait_ms": 0})
    app = create_app(lambda: production(configured))
    with ProjectorThread(configured):
        statuses = fuzz(app, 3_000 * SCALE, SEED + 2, EVERY_ROLE_TOKEN)
    assert sum(statuses.values()) == 3_000 * SCALE
    with TestClient(create_app(lambda: production(configured))) as client:
        stored = last_notification_id(client.app.state.crossview.commands.app)
    pool = open_pool(settings.database_url, max_size=1)
    try:
        positions = PostgresRelayPositions(pool, settings.namespace)
        wait_until(lambda: positions.load().notification_id >= stored, 30, "the relay to reach the last stored event")
    finally:
        pool.close()
    assert read_dead_letters(settings) == []
