"""Prometheus metrics: HTTP requests counted and timed by route template, and the numbers that need
I/O (projector lag, dead letters, relay lag, whether each dependency is up) read at scrape time.

Labels are route templates (``/v1/persons/{person_id}``), never raw paths, so a person id never
becomes a label value; a path no route matches is counted as ``unmatched``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.adapters.probes import Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """The HTTP request counter and latency histogram of one app (a registry of its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "crossview_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crossview_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template and method.",
            ["route", "method"],
            registry=self.registry,
        )

        self.unattributed = Counter(
            "crossview_webhook_unattributed",
            "Interactions a provider reported without a usable customer address (a withheld caller id, "
            "an empty number): accepted and recorded under the provider's own id, by provider.",
            ["provider"],
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"  # a made-up method must not make a new series
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def exposition(self, snapshot: Snapshot) -> bytes:
        """The text format: the HTTP metrics, then the scrape-time numbers of ``snapshot``."""
        return generate_latest(self.registry) + generate_latest(_SnapshotMetrics(snapshot))


class _SnapshotMetrics:
    """A one-scrape collector: generate_latest needs only ``collect``."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot
        up = GaugeMetricFamily(
            "crossview_up", "1 when the dependency answered this scrape within the timeout.", labels=["dependency"]
        )
        for dependency, answered in sorted(snapshot.up.items()):
            up.add_metric([dependency], 1 if answered else 0)
        yield up
        if snapshot.projector_lag is not None:
            lag = GaugeMetricFamily(
                "crossview_projector_lag",
                "Records on the partition that the read model has not stored yet: "
                "the topic's end offset minus the offset stored with the read model.",
                labels=["topic", "partition"],
            )
            for (topic, partition), behind in sorted(snapshot.projector_lag.items()):
                lag.add_metric([topic, str(partition)], behind)
            yield lag
        if snapshot.dead_letters is not None:
            yield GaugeMetricFamily(
                "crossview_dead_letters",
                "Records on the dead-letter topic (a replayed one stays there).",
                value=snapshot.dead_letters,
            )
        if snapshot.relay_lag is not None:
            yield GaugeMetricFamily(
                "crossview_relay_lag",
                "Events in the event store that the relay has not recorded as published "
                "(last notification id minus the relay's recorded position).",
                value=snapshot.relay_lag,
            )
        if snapshot.audit_backlog is not None:
            yield GaugeMetricFamily(
                "crossview_audit_outbox_backlog",
                "Access records kept in the audit outbox (PostgreSQL) and not yet on the audit topic.",
                value=snapshot.audit_backlog,
            )


class TimingMiddleware:
    """Pure ASGI (streamed answers pass through untouched): times each HTTP request to its last byte."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router wrote the matched route into the scope on its way in.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)
