"""Rebuild: replay the log from offset 0 into a fresh generation, then make it the active one."""

from __future__ import annotations

import logging
from collections.abc import Callable

from projections.ports import Partition, StaleOffsets
from projections.projector import Projector, RecordSource

log = logging.getLogger(__name__)


def catch_up(
    projector: Projector,
    source: RecordSource,
    targets: dict[Partition, int],
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Process records until every partition reached its target offset."""
    total = sum(targets.values())
    while True:
        positions = projector.positions()
        # Told where it starts too (a resumed replay counts its rate from there), and where it ends.
        progress(sum(min(positions.get(p, 0), t) for p, t in targets.items()), total)
        remaining = {p: t for p, t in targets.items() if positions.get(p, 0) < t}
        if not remaining:
            return
        try:
            projector.process(source.poll(500))
        except StaleOffsets as reason:  # another process moved on (a killed replay's last batch, say)
            log.warning("batch not committed (%s); going on from the stored offsets", reason)
            source.seek(projector.assign(list(targets)))
