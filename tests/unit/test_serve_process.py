"""A `crossview serve` process collects its garbage rarely once its container is built (the
collector's full passes over what start-up made were the API's slowest answers, BENCHMARKS.md), and
believes forwarded addresses only from the proxies it is told of."""

from __future__ import annotations

import gc

from services import cli


def test_a_server_process_collects_rarely_once_built():
    before = gc.get_threshold()
    try:
        assert cli._collected_rarely(lambda: "the container")() == "the container"
        assert gc.get_threshold() == (50_000, 20, 20)
        assert gc.get_freeze_count() > 0  # what start-up made is never walked again
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_forwarded_addresses_are_believed_only_from_the_proxies_named(monkeypatch):
    """Else any local process could write, in the audit trail, where a read came from."""
    import argparse

    import uvicorn

    from services.settings import Settings

    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.append(options))
    args = argparse.Namespace(host="127.0.0.1", port=8000)
    cli._serve_app("services.cli:production_app", args, Settings(), workers=2)
    cli._serve_app("services.cli:production_app", args, Settings(trusted_proxies="10.0.0.7"), workers=2)
    assert [(o["proxy_headers"], o["forwarded_allow_ips"]) for o in ran] == [(False, ""), (True, "10.0.0.7")]
