"""The embedded default with the demo data, as the door, audit, privacy and pseudonym tests share it:
``demo_client`` sends no credentials of its own (each test says who is calling)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings


@pytest.fixture
def demo_client():
    with TestClient(create_app(lambda: embedded(Settings()))) as client:
        yield client


@pytest.fixture
def fabien(demo_client) -> str:
    return str(demo_client.app.state.crossview.demo.fabien)
