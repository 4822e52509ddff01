"""A live Crossview for clients written by others (Segment's and CloudEvents' libraries, a
generated client): `crossview serve` in its own process on the real broker and database, with a
projector beside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.settings import Settings
from tests.e2e.test_http import wait_for_http
from tests.live import ProjectorThread, crossview_process, free_port


@contextmanager
def live_api(settings: Settings, tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Yields the base URL of a `crossview serve` (with ``env`` as more settings) and a projector."""
    port, log = free_port(), tmp_path / "serve.log"
    server = crossview_process(settings, "serve", "--port", str(port), log=log, env=env)
    try:
        with ProjectorThread(settings):
            base = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base}/livez", server, log)
            yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
