"""What the entrypoints (HTTP routes, the CLI) are given: the application's parts, built by the
composition root (services/bootstrap.py) on the embedded default or the real services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from projections.changes import Announcements
from projections.ports import ProjectionStore
from services.adapters.probes import Probes
from services.adapters.used_tokens import MemoryUsedTokens, PostgresUsedTokens
from services.application.audit import Auditor
from services.application.auth import Authenticator
from services.application.commands import Commands
from services.application.erasure import Eraser
from services.application.ingest import Ingest
from services.demo.data import DemoIds
from services.settings import Settings


@dataclass
class Container:
    settings: Settings
    store: ProjectionStore
    ingest: Ingest
    commands: Commands
    mode: str
    authenticator: Authenticator
    auditor: Auditor
    eraser: Eraser
    used_tokens: MemoryUsedTokens | PostgresUsedTokens | None = None  # single-use webhook tokens
    closers: list[Callable[[], None]] = field(default_factory=list)
    demo: DemoIds | None = None
    probes: Probes | None = None  # readiness and scrape-time metrics (routes/operations.py)
    # what the projector announced changed, for the live streams (routes/stream.py)
    announcements: Announcements = field(default_factory=Announcements)
    # the read models `crossview replay --into NAME` built, by name (None: the store keeps none)
    models: Callable[[str], ProjectionStore | None] | None = None

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
