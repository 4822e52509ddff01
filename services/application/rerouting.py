"""Events a producer wrote straight to the interactions topic keyed by a contact point
(``mailto:fabien@...``, ``tel:+336...``) instead of a person id: the projector hands them here,
and each is published again, the same event (same id, its time and data as sent), under the
person the contact point leads to — so it lands on that person's partition, and is folded there
like any other. A crash between the two publications repeats the second: a duplicate, dropped."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from domain.contact_point import InvalidContactPointError
from projections.ports import StoreUnavailable
from schemas.envelope import EnvelopeError, WireRecord, from_binary
from services.application.commands import ConcurrentUpdateError, run_retrying
from services.application.crossview import Crossview
from services.application.identity import by_contact
from services.application.ingest import Ingest


@dataclass
class ContactPointRouting:
    """The projector's ContactPointRouter on the event store (identity) and the log (Ingest).
    The event store is opened on the first such event: most projectors never meet one, and an
    API process starting beside them creates the store's tables meanwhile."""

    open_app: Callable[[], Crossview]
    ingest: Ingest
    country_code: str
    _app: Crossview | None = field(default=None, init=False)

    def identities(self) -> Crossview:
        attempts = 0
        while self._app is None:
            try:
                self._app = self.open_app()
            except IntegrityError:  # another process created the same tables at the same moment
                attempts += 1
                if attempts == 3:
                    raise
                time.sleep(0.2)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()

    def reroute(self, addressed: Sequence[tuple[WireRecord, str, str]]) -> list[tuple[WireRecord, str]]:
        events, refused = [], []
        try:
            app = self.identities()
            for record, kind, address in addressed:
                try:
                    resolved = run_retrying(by_contact(kind, address, self.country_code), app)
                    event = from_binary(record)
                except (InvalidContactPointError, EnvelopeError) as error:
                    refused.append((record, f"keyed by an invalid contact point {kind}:{address!r}: {error}"))
                    continue
                data = dict(event.data)
                if resolved.function_id and not data.get("function_id"):
                    data["function_id"] = resolved.function_id  # as a webhook's interaction would be
                events.append(event.model_copy(update={"subject": str(resolved.person_id), "data": data}))
        except (OperationalError, InterfaceError, IntegrityError, ConcurrentUpdateError) as error:
            raise StoreUnavailable(f"the event store did not answer: {error}") from error  # the batch is retried
        if events:
            self.ingest.publish(events)
        return refused
