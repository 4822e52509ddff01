"""Shared test helpers, and the rule that a skipped test fails the run in CI."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from projections.facts import Fact, fact_of
from projections.person_codec import view_to_json
from projections.person_model import PersonView
from projections.person_view import fold
from schemas.envelope import CloudEvent

REQUIRE_SERVICES = bool(os.environ.get("CI") or os.environ.get("CROSSVIEW_REQUIRE_SERVICES"))


def facts_of(events: Iterable[CloudEvent]) -> list[Fact]:
    """The events as facts, with made-up log positions (the fold does not look at them)."""
    return [fact_of(e, "test", 0, i) for i, e in enumerate(events)]


def expected_views(events: Iterable[CloudEvent]) -> dict[str, dict]:
    """The pure fold of every distinct event: what any correct projection must show."""
    distinct = {e.id: e for e in events}
    return {pid: view_to_json(view) for pid, view in fold(facts_of(distinct.values())).items()}


def as_json(views: dict[str, PersonView | None]) -> dict[str, dict | None]:
    return {pid: view_to_json(view) if view else None for pid, view in views.items()}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def named(metrics: dict, name: str) -> dict[tuple, float]:
    return {labels: value for (sample, labels), value in metrics.items() if sample == name}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if REQUIRE_SERVICES and skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; CI requires every test to run", red=True)
        session.exitstatus = 1


# The real-services fixtures serve both tests/integration and tests/e2e.
from tests.live import publisher, services, settings, store  # noqa: E402, F401
