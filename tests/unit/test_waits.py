"""Read-your-writes waits are bounded and never starve other requests."""

import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.tokens import EVERY_ROLE


def test_forty_waiting_queries_leave_health_answering_at_once():
    with TestClient(
        create_app(lambda: embedded(Settings(max_wait_ms=3000), with_demo=False)), headers=EVERY_ROLE
    ) as client:
        person = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}).json()["id"]
        never = {"min_position": "crossview.domain:0:999999", "wait_ms": 60_000}  # capped at 3 s
        with ThreadPoolExecutor(max_workers=40) as pool:
            began = time.monotonic()
            waits = [pool.submit(client.get, f"/v1/persons/{person}", params=never) for _ in range(40)]
            time.sleep(0.5)
            asked = time.monotonic()
            assert client.get("/v1/health").status_code == 200
            assert time.monotonic() - asked < 1
            answers = [w.result() for w in waits]
        assert all(a.status_code == 200 and a.json()["freshness"]["caught_up"] is False for a in answers)
        assert 2.5 < time.monotonic() - began < 8  # bounded by CROSSVIEW_MAX_WAIT_MS, not by wait_ms


def test_forty_waiting_queries_share_their_looks_at_the_position():
    with TestClient(
        create_app(lambda: embedded(Settings(max_wait_ms=1000), with_demo=False)), headers=EVERY_ROLE
    ) as client:
        person = client.post("/v1/persons", json={"given_name": "Fabien", "family_name": "Bellemare"}).json()["id"]
        store, looks = client.app.state.crossview.store, []
        position = store.position
        store.position = lambda: looks.append(1) or position()
        never = {"min_position": "crossview.domain:0:999999", "wait_ms": 1000}
        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(lambda _: client.get(f"/v1/persons/{person}", params=never), range(40)))
        assert all(a.json()["freshness"]["caught_up"] is False for a in answers)
        assert len(looks) < 120  # alone, each would have looked about ten times: 400
