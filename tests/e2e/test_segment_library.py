"""Segment's own Python library (segment-analytics-python), pointed at a live Crossview on the real
broker and database with `host` = the server + /v1/ingest/segment: every call type, plain and
gzip, and a batch of 500, reach the 360° view; a wrong write key gets an answer the library takes
as final, so it sends that batch once and never again."""

from __future__ import annotations

import threading

import httpx
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.e2e.servers import live_api
from tests.live import wait_until
from tests.tokens import EVERY_ROLE

WRITE_KEY = "fabulous-garden-web"


@pytest.fixture
def base(settings, tmp_path):
    with live_api(settings, tmp_path, {"CROSSVIEW_SEGMENT_WRITE_KEY": WRITE_KEY}) as base:
        yield base


def found(base: str, email: str) -> str | None:
    results = httpx.get(f"{base}/v1/search", params={"q": email}, headers=EVERY_ROLE).json()["results"]
    return results[0]["person_id"] if results else None


def web_interactions(base: str, person_id: str) -> int:
    answer = httpx.get(f"{base}/v1/persons/{person_id}", headers=EVERY_ROLE)
    return answer.json()["interactions"].get("web", 0) if answer.status_code == 200 else 0


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_every_call_of_the_library_reaches_the_360_view(base, gzip):
    client = Client(WRITE_KEY, host=f"{base}/v1/ingest/segment", sync_mode=True, gzip=gzip)
    user, email = f"fabien-{gzip}", f"fabien.{str(gzip).lower()}@fabulous-garden.example"
    client.page(
        anonymous_id=f"browser-{gzip}", category="shop", name="Home", properties={"url": "https://shop.example/"}
    )
    client.identify(
        user, {"email": email, "firstName": "Fabien", "lastName": "Bellemare"}, anonymous_id=f"browser-{gzip}"
    )
    client.track(user, "Order Completed", {"order_id": "o-1", "total": 42})
    client.screen(user, "Garden", "Basket")
    client.group(user, f"fabulous-garden-{gzip}", {"name": "Fabulous Garden"})
    client.alias(f"old-login-{gzip}", user)

    wait_until(lambda: found(base, email) is not None, 30, "the identified visitor in search")
    person = found(base, email)
    wait_until(lambda: web_interactions(base, person) == 6, 30, "six web interactions in the view")
    view = httpx.get(f"{base}/v1/persons/{person}", headers=EVERY_ROLE).json()
    assert (view["given_name"], view["family_name"]) == ("Fabien", "Bellemare")  # named by identify
    assert [f["organisation"]["name"] for f in view["functions"]] == ["Fabulous Garden"]  # the group call


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_a_batch_of_500_sent_through_the_librarys_queue_reaches_the_view_once(base, gzip):
    errors = []
    client = Client(
        WRITE_KEY,
        host=f"{base}/v1/ingest/segment",
        gzip=gzip,
        upload_size=500,
        upload_interval=2.0,
        on_error=lambda error, batch: errors.append(error),
    )
    user, email = f"anne-{gzip}", f"anne.{str(gzip).lower()}@fabulous-garden.example"
    client.identify(user, {"email": email})
    client.flush()
    for i in range(500):
        client.track(user, "Product Viewed", {"sku": f"sku-{i}"})
    client.flush()
    client.join()
    assert errors == []
    wait_until(lambda: found(base, email) is not None, 30, "Anne in search")
    wait_until(lambda: web_interactions(base, found(base, email)) == 501, 60, "501 web interactions in the view")


def test_a_wrong_write_key_is_answered_once_and_the_library_does_not_retry(base):
    with pytest.raises(APIError) as refused:
        Client("not-the-key", host=f"{base}/v1/ingest/segment", sync_mode=True).track("mallory", "Signed Up")
    assert refused.value.status == 403 and refused.value.code == "invalid_write_key"

    errors, done = [], threading.Event()
    client = Client(
        "not-the-key",
        host=f"{base}/v1/ingest/segment",
        max_retries=10,
        on_error=lambda error, batch: (errors.append(error), done.set()),
    )
    client.track("mallory", "Signed Up")
    assert done.wait(30)
    client.flush()
    client.join()
    assert [(e.status, e.code) for e in errors] == [(403, "invalid_write_key")]  # once, final
    metrics = httpx.get(f"{base}/metrics").text
    refusals = [
        line
        for line in metrics.splitlines()
        if line.startswith("crossview_http_requests_total") and "/v1/ingest/segment/v1/batch" in line and "403" in line
    ]
    assert refusals and refusals[0].endswith(" 2.0")  # the sync call above, and the queue's one request
