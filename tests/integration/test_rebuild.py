"""`crossview rebuild` replays the log into fresh tables and switches to them while the live projector runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.application.ingest import Ingest
from services.demo.data import seed_scenario, synthetic_interactions
from tests.conftest import as_json, expected_views
from tests.live import ROOT, ProjectorThread, caught_up, env_of, wait_until


def snapshot(store, person_ids):
    return {p: (store.person(p), store.timeline(p, limit=1000)) for p in person_ids}


def test_rebuild_produces_the_same_view_as_the_live_projection_and_the_live_projector_follows(
    settings, publisher, store
):
    first = list(synthetic_interactions(people=30, per_person=20, seed=21)) + seed_scenario()[0]
    later = list(synthetic_interactions(people=30, per_person=5, seed=22))
    ingest = Ingest(publisher, settings, None)
    ingest.publish(first)
    with ProjectorThread(settings):
        wait_until(caught_up(store, settings), 60, "the live projection")
        people = expected_views(first)
        live = snapshot(store, people)
        assert store.active_generation() == 1

        result = subprocess.run(
            [str(Path(sys.executable).parent / "crossview"), "rebuild"],
            env=env_of(settings),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "generation 2 is now active" in result.stdout
        assert store.active_generation() == 2
        assert snapshot(store, people) == live

        ingest.publish(later)  # the live projector must now write generation 2
        wait_until(caught_up(store, settings), 60, "the live projector on the new generation")
    expected = expected_views(first + later)
    assert as_json({p: store.person(p) for p in expected}) == expected
