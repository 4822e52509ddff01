"""Time travel in queries: ``as_of`` (a day, or an instant), ``at_position`` (a log position) and
``model`` (a read model a replay made), read once for every route that takes them.

A date keeps the meaning it always had: the day functions are judged active on, over the read model
as it is. An instant (RFC 3339, with its offset) or a position travels: the answer is the pure fold
of the person's events as the log stood then (projections/as_of.py), and says what it used."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Query

from projections.as_of import Cut, Partition
from projections.person_document import today
from projections.ports import ProjectionStore
from schemas.api import Problem, TimeTravelOut
from schemas.as_of import as_of_value
from services.container import Container
from services.http.deps import App, ProblemError
from services.settings import Settings

# What every route that travels may answer besides its own: the cut is further than the read model.
NOT_REACHED = {409: {"model": Problem, "description": "The read model has not reached at_position yet"}}

_PLACE = re.compile(r"(?P<topic>[^:,]+):(?P<partition>[0-9]{1,9}):(?P<offset>[0-9]{1,18})")


@dataclass(frozen=True)
class Travel:
    """What a query asked for: the day functions are judged on, and the cut of the log (None: live)."""

    day: date
    cut: Cut | None = None
    model: str | None = None

    def used(self, position: dict[Partition, int]) -> TimeTravelOut:
        """What the answer reflects, for the answer to say (the position it read, when none was given)."""
        return TimeTravelOut(
            until=self.cut.until if self.cut else None,
            at_position={f"{t}:{p}": o for (t, p), o in sorted(position.items())},
            model=self.model,
        )


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(422, "Invalid time travel", message, [{"field": f"query.{field}", "message": message}])


def parse_as_of(value: str | None) -> tuple[date, datetime | None]:
    """(the day, the instant or None) of an ``as_of`` value: a date, or an RFC 3339 instant with its offset."""
    if value is None:
        return today(), None
    try:
        asked = as_of_value(value)
    except ValueError as error:
        raise _invalid("as_of", str(error)) from None
    if isinstance(asked, datetime):  # a datetime is a date too: asked first
        return asked.date(), asked
    return asked, None


def parse_position(value: str, settings: Settings, field: str = "query.at_position") -> dict[Partition, int]:
    """A log position: ``topic:partition:next_offset`` per partition, comma-separated (an answer's
    ``freshness.position`` or ``time_travel.at_position`` written that way), on the topics and
    partitions this deployment has: a position elsewhere would never be reached."""

    def refused(message: str) -> ProblemError:
        return ProblemError(422, "Invalid time travel", message, [{"field": field, "message": message}])

    position: dict[Partition, int] = {}
    for place in value.split(","):
        found = _PLACE.fullmatch(place.strip())
        if found is None:
            raise refused(
                f"{place.strip()!r} is not topic:partition:offset (digits 0-9: a partition of up to 9, an offset of up to 18)"
            )
        topic, partition = found["topic"], int(found["partition"])
        if topic not in settings.event_topics or partition >= settings.partitions:
            raise refused(
                f"{topic}:{partition} is not a partition of this deployment's log (topics "
                f"{', '.join(settings.event_topics)}; partitions 0 to {settings.partitions - 1})"
            )
        if (topic, partition) in position:
            raise refused(f"{topic}:{partition} is given twice")
        position[(topic, partition)] = int(found["offset"])
    return position


async def _travel(
    crossview: App,
    as_of: Annotated[
        str | None,
        Query(
            max_length=64,
            description="A date (2026-11-30): the day functions are judged active on, over the read model as "
            "it is (default: today). Or an instant (RFC 3339 with its offset, 2026-11-30T14:05:00Z): "
            "the state as the log stood then, everything included, functions judged on its day (UTC).",
        ),
    ] = None,
    at_position: Annotated[
        str | None,
        Query(
            max_length=16000,
            description="A log position, topic:partition:next_offset per partition, comma-separated (an "
            "answer's time_travel.at_position): only the events before it, so the answer never changes.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        Query(
            max_length=63,
            pattern=r"^[a-z][a-z0-9_]*$",
            description="A read model `crossview replay --into NAME` built, instead of the live one.",
        ),
    ] = None,
) -> Travel:
    day, until = parse_as_of(as_of)
    position = parse_position(at_position, crossview.settings) if at_position is not None else None
    cut = Cut(until, position) if until is not None or position is not None else None
    return Travel(day, cut, model)


TimeTravel = Annotated[Travel, Depends(_travel)]


def store_of(crossview: Container, travel: Travel) -> ProjectionStore:
    """The read model a query reads: the live one, or the one a replay built under ``model``."""
    if travel.model is None:
        return crossview.store
    found = crossview.models(travel.model) if crossview.models is not None else None
    if found is None:
        raise ProblemError(
            404, "Read model not found", f"no read model {travel.model!r}: `crossview replay --into` makes one"
        )
    return found


__all__ = ["App", "TimeTravel", "Travel", "parse_as_of", "parse_position", "store_of"]
