"""A `crossview serve` process collects its garbage rarely once its container is built: the
collector's full passes over what start-up made were the API's slowest answers (BENCHMARKS.md)."""

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
