"""A sales manager's day end to end over HTTP, against `crossview serve` and `crossview projector`
on the real broker and database: a quote request from the website (Segment's "Lead Submitted",
sent twice) and a referral by the prescriber Croissance+; each qualified by the rules, routed to
its channel and owner, one converted — Social Networks becomes a client — and one lost; the
person's 360° view and the pipeline say so."""

from __future__ import annotations

import base64
import time

import httpx

from tests.e2e.test_http import wait_for_http
from tests.live import crossview_process, free_port
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

WRITE_KEY = "shop-write-key"
SEGMENT = {"authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
EMAIL = "fabien@fabulous-garden.example"


def eventually(read, until, what: str, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while True:
        found = read()
        if until(found):
            return found
        assert time.monotonic() < deadline, f"{what}: still {found}"
        time.sleep(0.2)


def test_a_web_lead_and_a_referral_are_qualified_routed_and_the_referral_wins_a_client(settings, tmp_path):
    port, log = free_port(), tmp_path / "crossview.log"
    projector = crossview_process(settings, "projector", log=log)
    server = crossview_process(
        settings, "serve", "--port", str(port), log=log, env={"CROSSVIEW_SEGMENT_WRITE_KEY": WRITE_KEY}
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v1/health", server, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=EVERY_ROLE) as client:
            scenario = Scenario(client)
            ids = scenario.build()
            fabien, org, fn = ids["fabien"], ids["org"], ids["fn"]
            scenario.command(
                "put", f"/v1/persons/{fabien}/attributes/email", {"value": EMAIL, "function_id": fn["Fabulous Garden"]}
            )
            identify = {"type": "identify", "messageId": "ajs-identify-1", "userId": "fabien-shop-42",
                        "traits": {"email": EMAIL}}  # fmt: skip
            quote = {"type": "track", "messageId": "ajs-quote-1", "userId": "fabien-shop-42", "event": "Lead Submitted",
                     "properties": {"product": "garden-maintenance-contract", "employees": 85}}  # fmt: skip
            for message in (identify, quote, quote):  # the library's retry creates nothing more
                answer = client.post("/v1/ingest/segment", json=message, headers=SEGMENT)
                assert answer.status_code == 200, answer.text
            leads = f"/v1/persons/{fabien}/leads"
            (web,) = eventually(lambda: client.get(leads).json()["leads"], bool, "the web lead")
            # the visitor's user id leads to Fabien, not to one of his functions: the lead is his own
            assert (web["source"], web["stage"], web["function_id"]) == ("web", "new", None)

            referral = scenario.command(
                "post",
                leads,
                {"product": "fleet-insurance", "source": "referral", "function_id": fn["Social Networks"],
                 "prescriber_id": org["Croissance+"], "employees": 320},
                201,
            )  # fmt: skip
            assert scenario.command("post", f"{leads}/{referral}/qualify", {}) == "large"
            assert scenario.command("post", f"{leads}/{referral}/route", {}) == "key-accounts"
            assert scenario.command("post", f"{leads}/{web['lead_id']}/qualify", {}) == "medium"
            assert scenario.command("post", f"{leads}/{web['lead_id']}/route", {"owner": "amelie"}) == "amelie"
            refused = client.post(f"{leads}/{web['lead_id']}/qualify", json={"size": "small"})
            assert refused.status_code == 409 and refused.json()["title"] == "LeadTransitionError"
            scenario.command("post", f"{leads}/{referral}/convert")
            scenario.command("post", f"{leads}/{web['lead_id']}/lose", {"reason": "chose a competitor"})

            view = scenario.read("get", f"/v1/persons/{fabien}")
            assert [(lead["product"], lead["stage"], lead["size"], lead["channel"], lead["owner"]) for lead in view["leads"]] == [
                ("garden-maintenance-contract", "lost", "medium", "advisor", "amelie"),
                ("fleet-insurance", "converted", "large", "key_account_manager", "key-accounts"),
            ]  # fmt: skip
            assert view["leads"][1]["prescriber_name"] == "Croissance+"
            social = next(
                f for f in view["functions"] if f["organisation"]["organisation_id"] == org["Social Networks"]
            )
            assert social["organisation"]["relationship"] == "client"

            figures = scenario.read("get", "/v1/leads/pipeline")
            assert (figures["created"], figures["win_rate"], figures["conversion_rate"]) == (2, 0.5, 0.5)
            assert figures["by_source"]["referral"]["by_stage"]["converted"] == 1
            assert figures["by_owner"]["amelie"]["by_stage"]["lost"] == 1
    finally:
        for process in (server, projector):
            process.terminate()
            process.wait(timeout=30)
