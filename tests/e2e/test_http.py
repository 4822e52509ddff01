"""End to end over HTTP: the commands a user runs, as child processes, spoken to with an HTTP client."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.live import ROOT, crossview_process, free_port
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

api = httpx.Client(headers=EVERY_ROLE)


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"no answer from {url} after {timeout_s}s:\n{log.read_text()[-3000:]}")


@contextmanager
def demo_server(tmp_path: Path, ready_path: str = "/v1/health") -> Iterator[tuple[str, Path]]:
    """`crossview demo` in its own process with no Kafka or PostgreSQL reachable, until the block
    ends; yields its base URL and its log."""
    port, log = free_port(), tmp_path / "demo.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "demo", "--port", str(port)],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={
            "CROSSVIEW_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "CROSSVIEW_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x",
            "PATH": "/usr/bin:/bin",
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}{ready_path}", process, log)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_demo_command_serves_fabien_bellemare_with_no_service_running(tmp_path):
    with demo_server(tmp_path) as (base, log):
        assert httpx.get(f"{base}/v1/search", params={"q": "bellemare"}).status_code == 401  # no token, no data
        roles = ("adapter", "admin", "advisor", "analyst")
        printed = dict(
            line.split() for line in log.read_text().splitlines() if line.split()[:1] in ([r] for r in roles)
        )
        assert sorted(printed) == ["adapter", "admin", "advisor", "analyst"]  # one token per role
        advisor = {"Authorization": f"Bearer {printed['advisor']}"}
        found = httpx.get(f"{base}/v1/search", params={"q": "bellemare"}, headers=advisor).json()["results"]
        assert [r["main_function"]["organisation"]["name"] for r in found] == ["Fabulous Garden"]
        analyst = {"Authorization": f"Bearer {printed['analyst']}"}
        masked = httpx.get(f"{base}/v1/persons/{found[0]['person_id']}", headers=analyst)
        assert masked.status_code == 200 and "Bellemare" not in masked.text  # analysts read pseudonyms
        made = subprocess.run(
            [sys.executable, "-m", "services.cli", "token", "--role", "advisor", "--subject", "e2e"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            check=True,
        )
        advisor = {"Authorization": f"Bearer {made.stdout.splitlines()[-1]}"}  # same settings: accepted
        view = httpx.get(f"{base}/v1/persons/{found[0]['person_id']}", headers=advisor).json()
        assert (view["given_name"], view["family_name"]) == ("Fabien", "Bellemare")
        assert view["interactions"] == {"sms": 1, "email": 1, "web": 3, "call": 1}  # web: a page, two checkout steps
        docs = httpx.get(f"{base}/docs")  # Swagger UI from our own files: no CDN on a closed network
        assert docs.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in docs.text
        assert httpx.get(f"{base}/docs/static/swagger-ui-bundle.js").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "/v1/search?q=Bellemare" in log.read_text()  # the banner tells the user where to look


SMS = {
    "source": "e2e",
    "type": "crossview.interaction.sms.v1",
    "time": "2026-11-23T10:00:00+00:00",
    "data": {
        "direction": "inbound",
        "provider": "twilio",
        "status": "received",
        "from_number": "+33612345678",
        "to_number": "+33140000000",
        "body": "Where is my order?",
    },
}


def test_an_event_posted_over_http_is_read_back_from_the_live_view_at_its_position(settings, tmp_path):
    port, log = free_port(), tmp_path / "crossview.log"
    projector = crossview_process(settings, "projector", log=log)
    server = crossview_process(settings, "serve", "--port", str(port), log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/v1/health", server, log)
        events = [
            {**SMS, "id": f"SM{i}", "subject": "fabien", "data": {**SMS["data"], "provider_id": f"SM{i}"}}
            for i in range(3)
        ]
        answer = api.post(f"{base}/v1/events", json=events, timeout=15)
        assert answer.status_code == 202, answer.text
        last = answer.json()["positions"][-1]

        view = api.get(f"{base}/v1/persons/fabien", params={"min_position": last, "wait_ms": 20000}, timeout=30)
        assert view.status_code == 200, view.text
        assert view.json()["freshness"]["caught_up"] is True
        assert view.json()["interactions"] == {"sms": 3}

        retry = api.post(f"{base}/v1/events", json=events[0], timeout=15)  # the provider retried
        assert retry.status_code == 202
        timeline = api.get(
            f"{base}/v1/persons/fabien/timeline",
            params={"min_position": retry.json()["positions"][0], "wait_ms": 20000},
            timeout=30,
        )
        assert [e["event_id"] for e in timeline.json()["entries"]] == ["SM2", "SM1", "SM0"]

        bad = api.post(f"{base}/v1/events", json={**events[0], "data": {"direction": "up"}}, timeout=15)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert "body.data.provider" in {e["field"] for e in bad.json()["errors"]}
        assert api.get(f"{base}/v1/persons/nobody").status_code == 404
    finally:
        for process in (server, projector):
            process.terminate()
            process.wait(timeout=30)


def test_the_seed_scenario_over_http_reorder_makes_treasurer_main_and_changes_targeting(settings, tmp_path):
    port, log = free_port(), tmp_path / "crossview.log"
    projector = crossview_process(settings, "projector", log=log)
    server = crossview_process(settings, "serve", "--port", str(port), log=log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v1/health", server, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=EVERY_ROLE) as client:
            scenario = Scenario(client)
            ids = scenario.build()
            fabien, fn = ids["fabien"], ids["fn"]
            as_of = {"as_of": "2026-11-23"}
            view = scenario.read("get", f"/v1/persons/{fabien}", params=as_of)
            assert view["main_function"]["title"]["code"] == "MANAGING_DIRECTOR"
            assert [f["organisation"]["name"] for f in view["functions"]] == [
                "Fabulous Garden",
                "Social Networks",
                "Croissance+",
            ]
            history = scenario.read("get", f"/v1/persons/{fabien}/history", params=as_of)
            assert (history["functions"][0]["organisation"]["name"], history["functions"][0]["active"]) == (
                "Delta Telecom",
                False,
            )
            selection = {"title_codes": ["TREASURER", "MANAGING_DIRECTOR"], "mode": "per_person", **as_of}
            before = scenario.read("post", "/v1/targetings", json=selection)
            assert [r["function"]["title"]["code"] for r in before["rows"]] == ["MANAGING_DIRECTOR"]

            # The drag and drop: Treasurer first.
            order = [fn["Croissance+"], fn["Fabulous Garden"], fn["Social Networks"], fn["Delta Telecom"]]
            scenario.command("put", f"/v1/persons/{fabien}/functions/order", {"function_ids": order})
            view = scenario.read("get", f"/v1/persons/{fabien}", params=as_of)
            assert view["main_function"]["title"]["code"] == "TREASURER"
            after = scenario.read("post", "/v1/targetings", json=selection)
            assert [r["function"]["title"]["code"] for r in after["rows"]] == ["TREASURER"]
            found = scenario.read("get", "/v1/search", params={"q": "croissance", **as_of})
            assert [r["person_id"] for r in found["results"]] == [fabien]
            assert not scenario.read("get", "/v1/search", params={"q": "delta telecom", **as_of})["results"]
    finally:
        for process in (server, projector):
            process.terminate()
            process.wait(timeout=30)


def test_a_call_centre_webhook_configured_by_environment_reaches_the_callers_view(settings, tmp_path):
    port, log = free_port(), tmp_path / "crossview.log"
    key = {"CROSSVIEW_CONNECT_API_KEY": "eventbridge-connection-key"}
    projector = crossview_process(settings, "projector", log=log)
    server = crossview_process(settings, "serve", "--port", str(port), log=log, env=key)
    base, fixtures = f"http://127.0.0.1:{port}", ROOT / "tests" / "fixtures" / "connect"
    try:
        wait_for_http(f"{base}/v1/health", server, log)
        for name in ("connected_to_agent", "disconnected", "contact_record"):
            body = (fixtures / f"{name}.json").read_bytes()
            assert api.post(f"{base}/v1/ingest/connect", content=body, timeout=15).status_code == 403
            answer = api.post(
                f"{base}/v1/ingest/connect", content=body, headers={"x-api-key": key["CROSSVIEW_CONNECT_API_KEY"]}
            )
            assert answer.json() == {"accepted": 1, "ignored": 0}, answer.text
        deadline = time.monotonic() + 30
        while not (found := api.get(f"{base}/v1/search", params={"q": "+33612345678"}).json()["results"]):
            assert time.monotonic() < deadline, "the caller never appeared"
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        timeline = f"{base}/v1/persons/{found[0]['person_id']}/timeline"
        while [len(e["statuses"]) for e in api.get(timeline).json()["entries"] if e["channel"] == "call"] != [3]:
            assert time.monotonic() < deadline, "the call never landed whole (one row, three reports)"
            time.sleep(0.2)
    finally:
        for process in (server, projector):
            process.terminate()
            process.wait(timeout=30)
