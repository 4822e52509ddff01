"""The edge over real HTTP (uvicorn, as `crossview demo` serves it): a body over the limit is
refused before it is read, whether its length is declared or it streams without one, and the
server goes on answering."""

from __future__ import annotations

import time

import httpx

from tests.e2e.test_http import demo_server
from tests.tokens import EVERY_ROLE


def test_a_47_megabyte_body_is_refused_unread_and_the_server_goes_on(tmp_path):
    with demo_server(tmp_path) as (base, log):
        big = b"[" + b'{"x": "' + b"y" * 47_000_000 + b'"}]'
        began = time.monotonic()
        declared = httpx.post(f"{base}/v1/events", content=big, timeout=60, headers=EVERY_ROLE)
        assert declared.status_code == 413 and "CROSSVIEW_MAX_BODY_BYTES" in declared.json()["detail"]

        def chunks():
            for start in range(0, len(big), 1 << 20):
                yield big[start : start + (1 << 20)]

        try:
            streamed = httpx.post(f"{base}/v1/events", content=chunks(), timeout=60, headers=EVERY_ROLE)
            assert streamed.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection while the client still sends: refused all the same
        assert time.monotonic() - began < 30
        deep = httpx.post(f"{base}/v1/persons", content=b"[" * 100_000 + b"]" * 100_000, timeout=30, headers=EVERY_ROLE)
        assert deep.status_code == 422
        assert httpx.get(f"{base}/v1/health").status_code == 200
