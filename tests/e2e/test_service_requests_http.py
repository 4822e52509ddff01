"""A customer-service day over HTTP against `crossview serve` and `crossview projector`: Fabien's
email to the question address opens a request through a Mailgun route, an advisor opens a complaint
from a call's note, works it through its states (a refused move named), assigns and comments it;
the 360° view lists the open ones first with their due times, so does the queue across people with
its filters, an analyst sees no subject in clear, and every change is on Fabien's audit trail."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import httpx

from services.application.auth import Role
from tests.e2e.test_http import wait_for_http
from tests.live import crossview_process, free_port
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE, bearer

MAILGUN_KEY = "mailgun-route-key"
ALICE = bearer(Role.ADVISOR, subject="alice@advisors")
ANALYST = bearer(Role.ANALYST, subject="ana@analysts")
ROOT = bearer(Role.ADMIN, subject="root@admins")
ROUTE = json.loads((Path(__file__).parents[1] / "fixtures" / "inbound" / "mailgun_route.json").read_text())


def signed_route() -> dict[str, str]:
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {**ROUTE, "timestamp": timestamp, "token": token, "signature": signature}


def eventually(read, check, what: str, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while not check(found := read()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def test_a_customer_service_day_over_http(settings, tmp_path):
    port, log = free_port(), tmp_path / "crossview.log"
    env = {"CROSSVIEW_MAILGUN_SIGNING_KEY": MAILGUN_KEY}
    projector = crossview_process(settings, "projector", log=log)
    server = crossview_process(settings, "serve", "--port", str(port), log=log, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/v1/health", server, log)
        with httpx.Client(base_url=base, timeout=30, headers=EVERY_ROLE) as client:
            scenario = Scenario(client)
            ids = scenario.build()
            fabien, garden = ids["fabien"], ids["fn"]["Fabulous Garden"]
            scenario.command(
                "put",
                f"/v1/persons/{fabien}/attributes/email",
                {"value": "fabien@fabulous-garden.example", "function_id": garden},
            )
            scenario.command(
                "put", "/v1/service-request-kinds/complaint", {"label": "Complaint", "service_level_hours": 4}
            )
            requests = f"/v1/persons/{fabien}/service-requests"

            # His email to question@ opens a question, attributed to his Fabulous Garden function; twice posted, once opened.
            for _retry in range(2):
                answer = client.post("/v1/ingest/mailgun/inbound", data=signed_route())
                assert answer.json() == {"accepted": 1}, answer.text
            question = eventually(
                lambda: client.get(requests).json(), lambda r: r["service_requests"], "the email's request"
            )
            (emailed,) = question["service_requests"]
            assert (emailed["kind"], emailed["channel"], emailed["function_id"]) == ("question", "email", garden)

            # Alice takes his call: a note that opens a complaint.
            note = client.post(
                f"/v1/persons/{fabien}/notes",
                json={
                    "text": "The mower delivered on Monday is broken",
                    "outcome": "answered",
                    "service_request": {"kind": "complaint", "subject": "Broken mower on delivery"},
                },
                headers=ALICE,
            )
            assert note.status_code == 202, note.text
            complaint = note.json()["service_request_id"]
            scenario.last_position = note.json()["service_request_positions"][-1]
            mine = f"{requests}/{complaint}"
            for state in ("in_progress", "waiting_for_customer", "in_progress"):
                answer = client.post(f"{mine}/state", json={"state": state}, headers=ALICE)
                assert answer.status_code == 200, answer.text
            scenario.command("put", f"{mine}/assignee", {"assignee": "team-after-sales"})
            scenario.command("post", f"{mine}/comments", {"text": "A replacement leaves tomorrow"}, 201)
            view = scenario.read("get", f"/v1/persons/{fabien}")
            listed = [(r["request_id"], r["state"], r["kind"]) for r in view["service_requests"]]
            assert listed == [(complaint, "in_progress", "complaint"), (emailed["request_id"], "open", "question")]
            assert view["service_requests"][0]["due_at"] < view["service_requests"][1]["due_at"]  # 4 h before 24 h
            assert not any(r["breached"] for r in view["service_requests"])

            scenario.command("post", f"{mine}/state", {"state": "resolved", "reason": "replaced"})
            scenario.command("post", f"{mine}/state", {"state": "closed"})
            refused = client.post(f"{mine}/state", json={"state": "in_progress"})
            assert refused.status_code == 409 and refused.json()["title"] == "RequestTransitionError", refused.text
            scenario.command("post", f"{mine}/state", {"state": "open", "reason": "the replacement is broken too"})
            one = scenario.read("get", mine)
            assert (one["state"], one["reopened"], one["assignee"]) == ("open", 1, "team-after-sales")
            assert [c["text"] for c in one["comments"]] == ["A replacement leaves tomorrow"]
            timeline = scenario.read("get", f"/v1/persons/{fabien}/timeline", params={"limit": 200})["entries"]
            states = [
                e["data"]["state"] for e in timeline if e["event_type"].endswith("service-request.state-changed.v1")
            ]
            assert states[::-1] == ["in_progress", "waiting_for_customer", "in_progress", "resolved", "closed", "open"]

            # The customer-service lead's queue across people: the reopened complaint (due in 4 h) first.
            queue = scenario.read("get", "/v1/service-requests")
            rows = [(r["person_id"], r["request_id"], r["kind"], r["state"]) for r in queue["service_requests"]]
            assert rows == [
                (fabien, complaint, "complaint", "open"),
                (fabien, emailed["request_id"], "question", "open"),
            ]
            assert queue["service_requests"][0]["subject"] == "Broken mower on delivery"
            theirs = scenario.read("get", "/v1/service-requests", params={"assignee": "team-after-sales"})
            assert [r["request_id"] for r in theirs["service_requests"]] == [complaint]
            questions = scenario.read("get", "/v1/service-requests", params={"kind": "question", "limit": 1})
            assert [r["request_id"] for r in questions["service_requests"]] == [emailed["request_id"]]
            assert questions["next_page"] is None
            closed = scenario.read("get", "/v1/service-requests", params={"state": "closed"})
            assert closed["service_requests"] == []  # reopened: no longer closed
            hidden = client.get("/v1/service-requests", headers=ANALYST).json()["service_requests"]
            assert hidden[0]["request_id"] == complaint and hidden[0]["subject"].startswith("~")

            seen = client.get(f"/v1/persons/{fabien}", headers=ANALYST).json()["service_requests"]
            assert seen[0]["kind"] == "complaint" and seen[0]["subject"].startswith("~")  # pseudonymised

            def audited(entries) -> set[str]:
                return {e["operation"] for e in entries if e["actor"] == "alice@advisors"}

            trail = eventually(
                lambda: client.get(f"/v1/persons/{fabien}/audit", headers=ROOT).json()["entries"],
                lambda entries: {"record_note", "change_request_state"} <= audited(entries),
                "Alice's changes on Fabien's audit trail",
            )
            assert {"record_note", "change_request_state"} <= audited(trail)
    finally:
        for process in (server, projector):
            process.terminate()
            process.wait(timeout=30)
