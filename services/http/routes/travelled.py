"""The 360° view, history and timeline as the log stood at a cut (an instant, a position): the
people, their families and their organisations folded from the read model's event history
(projections/as_of.py). The routes in queries.py call these when a query travels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from domain.offers import OfferCatalogue
from projections.as_of import Cut, Partition, fact_of_entry, view_as_of
from projections.directory import References
from projections.person_document import LINKS_SHOWN, Moment, document_organisations, person_360
from projections.person_model import PersonView, merge_views
from projections.ports import ProjectionStore
from projections.reference_view import OFFERS, ORGANISATION, catalogue_offers, fold_references
from projections.search_at import CANDIDATES_AT_CUT
from schemas.api import Freshness, Person360Out, TimeTravelOut
from schemas.events import InvalidEventData, UnknownEventType
from services.http.deps import ProblemError, render
from services.http.time_travel import Travel, store_of

_ERASED = "this person was erased at their request"


def view_at(store: ProjectionStore, person_id: str, cut: Cut) -> PersonView | None:
    """The person's own view at the cut (None: nothing of theirs yet)."""
    checkpoint, entries = store.events_as_of(person_id, cut)
    try:
        return view_as_of(person_id, entries, cut, checkpoint)
    except (InvalidEventData, UnknownEventType) as error:  # redacted rows: an erasure the live view shows
        raise ProblemError(410, "Person erased", _ERASED) from error


def family_at(store: ProjectionStore, person_id: str, cut: Cut) -> tuple[PersonView, list[PersonView]]:
    """As queries.family_of, at the cut: the survivor the person was joined into then, and everyone
    joined into them then. An erased person is not shown at any time (their data is gone)."""
    live = store.person(person_id)
    if live is None:
        raise ProblemError(404, "Person not found", f"no person {person_id!r} in the read model")
    if live.erased_on is not None:
        raise ProblemError(410, "Person erased", f"{_ERASED} on {live.erased_on}")
    view = view_at(store, person_id, cut)
    if view is None:
        raise ProblemError(404, "Person not found", f"no event of person {person_id!r} at that point of the log")
    for _ in range(20):
        if view.merged_into is None:
            break
        view = view_at(store, view.merged_into, cut) or view
    survivor = live if view.person_id == person_id else store.person(view.person_id) or view
    if view.erased_on is not None or survivor.erased_on is not None:
        raise ProblemError(410, "Person erased", _ERASED)
    absorbed, pending, seen = [], list(view.absorbed), {view.person_id}
    while pending:
        found = [v for pid in pending if pid not in seen for v in [view_at(store, pid, cut)] if v is not None]
        seen |= set(pending)
        absorbed += found
        pending = [a for v in found for a in v.absorbed]
    return view, absorbed


def people_at(store: ProjectionStore, candidates: Iterable[PersonView], cut: Cut) -> list[PersonView]:
    """The candidates' own views at the cut: those with events by then, erased people left out."""
    found = []
    for candidate in candidates:
        if candidate.erased_on is None and (view := view_at(store, candidate.person_id, cut)) is not None:
            found.append(view)
    return found


def search_people_at(store: ProjectionStore, words: str, cut: Cut) -> tuple[list[PersonView], References]:
    """The people who may have matched ``words`` at the cut (projections/search_at.py), each as the
    cut saw them, with their organisations as they stood then: directory.matches decides. Too many
    to fold one by one is a 422 asking for another word."""
    ids = store.search_candidates_at(words, cut, CANDIDATES_AT_CUT + 1)
    if len(ids) > CANDIDATES_AT_CUT:
        message = (
            f"more than {CANDIDATES_AT_CUT} people may have matched at that point of the log: add a word "
            "(a search at a cut folds each of them)"
        )
        raise ProblemError(422, "Search too broad at a cut", message, [{"field": "query.q", "message": message}])
    views = people_at(store, store.persons(ids).values(), cut)
    return views, references_at(store, [f.organisation_id for v in views for f in v.functions.values()], cut)


def references_at(store: ProjectionStore, organisation_ids: list[str], cut: Cut) -> References:
    """The organisations as they stood at the cut (name, kind, relationship), folded from their own
    events; titles as the referential holds them now."""
    now = store.reference_data(organisation_ids)
    organisations = {}
    for organisation_id in dict.fromkeys(organisation_ids):
        _, entries = store.events_as_of(organisation_id, cut)
        facts = [fact_of_entry(e) for e in sorted(entries, key=lambda e: (e.topic, e.partition, e.offset))]
        folded = fold_references(facts, {})
        if (ORGANISATION, organisation_id) in folded:
            organisations[organisation_id] = folded[(ORGANISATION, organisation_id)]
    return replace(now, organisations=organisations)


def the_cut(asked: Cut, position: dict[Partition, int]) -> Cut:
    """The cut an answer uses: the position asked for, else the read model's at the time of the
    question, so that asking again with it gives the same answer. A position the read model has not
    reached is refused: the answer would change once it has."""
    if asked.position is None:
        return Cut(asked.until, position)
    ahead = sorted(f"{t}:{p}" for (t, p), offset in asked.position.items() if offset > position.get((t, p), 0))
    if ahead:
        raise ProblemError(
            409,
            "Position not reached",
            f"the read model has not reached at_position on {', '.join(ahead[:5])} yet: ask again later, or "
            "give min_position (wait_ms) to wait for it",
        )
    return asked


def person_360_at(
    store: ProjectionStore, person_id: str, cut: Cut, day: date, freshness: Freshness, moment: Moment
) -> Person360Out:
    """The 360° view at the cut: the pure fold of the family's events it keeps, their organisations as
    they stood then, journeys and offers at ``moment``; the links are the organisations' people on
    the day as the read model knows them now."""
    view, absorbed = family_at(store, person_id, cut)
    view = merge_views(view, absorbed) if absorbed else view
    organisations = document_organisations(view, day)
    refs = references_at(store, organisations, cut)
    colleagues = store.colleagues(organisations, day, person_id, LINKS_SHOWN)
    return person_360(view, refs, colleagues, day, freshness, moment)


def moment_at(store: ProjectionStore, cut: Cut, stall_after: timedelta) -> Moment:
    """What journeys and offers are judged by at the cut: the offer catalogue as it stood then,
    folded from its own events, and the cut's instant (now, for a cut by position alone)."""
    _, entries = store.events_as_of(str(OfferCatalogue.create_id()), cut)
    facts = [fact_of_entry(e) for e in sorted(entries, key=lambda e: (e.topic, e.partition, e.offset))]
    catalogue = catalogue_offers(fold_references(facts, {}).get((OFFERS, OFFERS)))
    return Moment(catalogue=catalogue, now=cut.until or datetime.now(UTC), stall_after=stall_after)


def travelled_store(
    crossview, travel: Travel, freshness: Freshness
) -> tuple[ProjectionStore, Freshness, dict[Partition, int]]:
    """The read model a travelling query reads, the freshness it answers with and its position."""
    store = store_of(crossview, travel)
    if travel.model is None:
        return store, freshness, partitions(freshness.position)
    position = store.position()
    return store, Freshness(position=render(position), caught_up=True), position


def travelled_cut(
    crossview, travel: Travel | None, freshness: Freshness
) -> tuple[ProjectionStore, Freshness, Cut | None, TimeTravelOut | None]:
    """What a query that may travel reads: the store, the freshness it answers with, the cut (None:
    the read model as it stands) and what the answer says it used (None: a live answer)."""
    if travel is None or (travel.cut is None and travel.model is None):
        return crossview.store, freshness, None, None
    store, freshness, position = travelled_store(crossview, travel, freshness)
    cut = the_cut(travel.cut, position) if travel.cut is not None else None
    return store, freshness, cut, travel.used(dict(cut.position or {}) if cut else position)


def partitions(rendered: dict[str, int]) -> dict[Partition, int]:
    return {(where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1])): offset for where, offset in rendered.items()}
