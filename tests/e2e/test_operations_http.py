"""The operations endpoints of the commands an operator runs, over real HTTP."""

from __future__ import annotations

import time

import httpx

from tests.conftest import named, samples
from tests.e2e.test_http import SMS, demo_server, wait_for_http
from tests.live import crossview_process, free_port
from tests.tokens import EVERY_ROLE


def test_the_demo_is_alive_ready_and_scraped_with_no_service_running(tmp_path):
    with demo_server(tmp_path, "/livez") as (base, log):
        assert httpx.get(f"{base}/livez").json() == {"status": "alive"}
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and set(ready.json()["checks"]) == {"kafka", "database", "relay"}
        metrics = samples(httpx.get(f"{base}/metrics").text)
        assert named(metrics, "crossview_up") == {(("dependency", "database"),): 1, (("dependency", "kafka"),): 1}
        assert set(named(metrics, "crossview_projector_lag").values()) == {0}


def test_crossview_serve_counts_requests_by_route_and_reports_the_projector_catching_up(settings, tmp_path):
    port, log = free_port(), tmp_path / "crossview.log"
    server = crossview_process(settings, "serve", "--port", str(port), log=log)
    base = f"http://127.0.0.1:{port}"
    projector = None
    try:
        wait_for_http(f"{base}/readyz", server, log)
        assert httpx.get(f"{base}/readyz", timeout=10).json()["status"] == "ready"
        events = [
            {**SMS, "id": f"OPS{i}", "subject": f"person-{i}", "data": {**SMS["data"], "provider_id": f"OPS{i}"}}
            for i in range(6)
        ]
        assert httpx.post(f"{base}/v1/events", json=events, timeout=15, headers=EVERY_ROLE).status_code == 202
        for i in range(2):
            httpx.get(f"{base}/v1/persons/person-{i}", timeout=10, headers=EVERY_ROLE)

        text = httpx.get(f"{base}/metrics", timeout=10).text
        assert "person-0" not in text and "person-1" not in text
        metrics = samples(text)
        requests = named(metrics, "crossview_http_requests_total")
        assert requests[(("method", "POST"), ("route", "/v1/events"), ("status", "202"))] == 1
        assert requests[(("method", "GET"), ("route", "/v1/persons/{person_id}"), ("status", "404"))] == 2
        lag = named(metrics, "crossview_projector_lag")
        assert (
            sum(v for labels, v in lag.items() if dict(labels)["topic"].endswith(".interactions")) == 6
        )  # no projector
        # The two reads' accesses: kept in the audit outbox, relayed in groups (one or two events).
        deadline = time.monotonic() + 30
        while True:
            scraped = samples(httpx.get(f"{base}/metrics", timeout=10).text)
            audit = named(scraped, "crossview_projector_lag")
            relayed = sum(v for labels, v in audit.items() if dict(labels)["topic"].endswith(".audit"))
            if named(scraped, "crossview_audit_outbox_backlog") == {(): 0} and relayed in (1, 2):
                break
            assert time.monotonic() < deadline, f"the reads' accesses did not reach the audit topic: {relayed}"
            time.sleep(0.25)

        projector = crossview_process(settings, "projector", log=log)
        deadline = time.monotonic() + 60
        while sum(named(samples(httpx.get(f"{base}/metrics", timeout=10).text), "crossview_projector_lag").values()):
            assert time.monotonic() < deadline, "the projector's lag did not reach 0 in 60 s"
            time.sleep(0.5)
    finally:
        for process in (server, projector):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
