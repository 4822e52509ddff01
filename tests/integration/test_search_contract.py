"""Search answers the same on PostgreSQL as in memory over a few thousand people of the load's
population (common and rare family names, phones, emails, organisations, titles): the first
people every word matches, in the same order, whatever the limit; PostgreSQL reads them off its
indexes (postgres_search) where memory reads everyone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from projections import postgres_search
from projections.as_of import Cut
from projections.directory import References, matches
from projections.memory_store import MemoryStore
from schemas.events import AttributeSet, PersonRegistered, PersonRenamed
from services.demo import population
from services.demo.data import DEMO_NAMESPACE, event
from services.http.deps import ProblemError
from services.http.routes import travelled
from services.http.routes.travelled import search_people_at
from tests.projecting import project

PEOPLE = 3000
EVENTS = list(population.registration_events(PEOPLE, PEOPLE // 20))
DAY = date(2026, 11, 23)
RARE = next(
    e.data["family_name"]
    for e in EVENTS
    if e.type == "crossview.person.registered.v1" and e.data["family_name"] not in population.COMMON_FAMILY_NAMES
)
QUERIES = [
    "martin",  # a common family name: a tenth of everybody
    "MARTIN",
    RARE.lower(),  # a rare one
    "léa",  # a given name, with an accent
    "LÉA martin",
    "fabien bernard",
    "+33600000042",  # a phone
    "p1234.f0@example.org",  # an email
    "p12",
    "example",  # everybody
    "garden",  # organisations' names
    "garden 1",
    "treasurer",  # a title's label
    "managing_director",  # a title's code
    "director garden",
    "ma",
    "ma le",  # every word shorter than a trigram: people read in order, none drives
    "ma bernard",  # a short word beside one that drives
    "kobaba claire",
    "nobody-has-this",
    "martin anne",  # a common family name and a word nobody holds: the word drives (no Martin read)
    f"martin {RARE.lower()}",  # two family names: nobody
    "claire fabien",  # two common given names: nobody holds both
    "léa example martin",  # three common words, together
    "treasurer martin",  # a title's people and a family name's
]


def found(store, query: str, limit: int) -> list[tuple[str | None, str | None, str]]:
    """What the route answers (services/http/routes/queries.py, ``search``)."""
    candidates, refs = store.search_candidates(query, DAY, limit)
    kept = sorted(
        (v for v in candidates if v.merged_into is None and matches(v, refs, query, DAY)),
        key=lambda v: (v.family_name or "", v.given_name or "", v.person_id),
    )[:limit]
    return [(v.family_name, v.given_name, v.person_id) for v in kept]


# (CAP, TOGETHER) of postgres_search: as built (few words are common among 3,000 people), then small
# enough that most words are common and several are looked up together, and then that the words
# looked up together are too many to sort (people are read in order instead).
BOUNDS = [(postgres_search.CAP, postgres_search.TOGETHER), (40, 100_000), (40, 30)]


def test_search_answers_alike_on_a_population(settings, store, monkeypatch):
    memory = MemoryStore()
    project(memory, settings, EVENTS, batch=5000)
    project(store, settings, EVENTS, batch=5000)
    for cap, together in BOUNDS:
        monkeypatch.setattr(postgres_search, "CAP", cap)
        monkeypatch.setattr(postgres_search, "TOGETHER", together)
        for query in QUERIES:
            for limit in (1, 20, 200):
                expected = found(memory, query, limit)
                assert found(store, query, limit) == expected, (cap, together, query, limit)
                if query in ("martin", "example", "garden", "léa"):
                    assert len(expected) == limit, (query, limit)  # more matches than the limit
    assert found(store, "nobody-has-this", 20) == []


# --- search at a cut (projections/search_at.py, postgres_search_at.py) -------------------------

AT = datetime(2026, 1, 1, tzinfo=UTC)  # the population's registrations


def later_events() -> list:
    """After the population: every seventh person renamed an hour later, a new email for every
    eleventh two hours later, and a hundred Martins registered three hours later."""
    registered = [e for e in EVENTS if e.type == "crossview.person.registered.v1"]
    extra = []
    for n, e in enumerate(registered[::7]):
        renamed = PersonRenamed(given_name=e.data["given_name"] or "Anne", family_name=f"Nouveau{n % 13}")
        extra.append(event(e.subject, renamed, AT + timedelta(hours=1), f"travel:rename:{n}"))
    for n, e in enumerate(registered[::11]):
        mail = AttributeSet(name="email", value=f"moved{n}@elsewhere.example")
        extra.append(event(e.subject, mail, AT + timedelta(hours=2), f"travel:email:{n}"))
    for n in range(100):
        late = PersonRegistered(given_name=f"Late{n}", family_name="Martin")
        extra.append(
            event(str(uuid.uuid5(DEMO_NAMESPACE, f"travel:late:{n}")), late, AT + timedelta(hours=3), f"late{n}")
        )
    return extra


TOO_BROAD = {"garden 1"}
TRAVEL_QUERIES = ["martin", "nouveau3", "nouveau3 lea", RARE.lower(), "moved7@", "elsewhere", "garden 1", "kobaba"]


def found_at(store, query: str, cut: Cut) -> list[tuple[str | None, str | None, str]] | str:
    """What the route answers at a cut (services/http/routes/queries.py, ``search``), or "too broad"."""
    try:
        views, refs = search_people_at(store, query, cut)
    except ProblemError:
        return "too broad"
    day = cut.until.date() if cut.until else DAY
    kept = [v for v in views if v.merged_into is None and matches(v, refs, query, day)]
    return sorted((v.family_name, v.given_name, v.person_id) for v in kept)


def everyone_at(store, cut: Cut) -> tuple[list, References]:
    """Every person folded at the cut, with the organisations of then: no index, no candidates."""
    views = [v for pid in list(store._views) if (v := travelled.view_at(store, pid, cut)) is not None]
    refs = travelled.references_at(store, [f.organisation_id for v in views for f in v.functions.values()], cut)
    return views, refs


def matching(views: list, refs: References, query: str, cut: Cut) -> list[tuple[str | None, str | None, str]]:
    day = cut.until.date() if cut.until else DAY
    return sorted(
        (v.family_name, v.given_name, v.person_id)
        for v in views
        if v.merged_into is None and matches(v, refs, query, day)
    )


def test_search_at_a_cut_answers_alike_and_as_folding_everyone_would(settings, store):
    events = EVENTS + later_events()
    memory = MemoryStore()
    project(memory, settings, events, batch=5000)
    project(store, settings, events, batch=5000)
    half = {where: offset * 2 // 3 for where, offset in store.position().items()}
    cuts = [Cut(AT + timedelta(minutes=30)), Cut(AT + timedelta(minutes=90)), Cut(None, half), Cut(datetime.now(UTC))]
    for cut in cuts:
        views, refs = everyone_at(memory, cut)
        for query in TRAVEL_QUERIES:
            answered = found_at(store, query, cut)
            assert answered == found_at(memory, query, cut), (query, cut)
            # "garden 1": a word ("1") many values hold, and many organisations' people: too many to fold
            allowed = ("too broad",) if query in TOO_BROAD else ()
            assert answered in (matching(views, refs, query, cut), *allowed), (query, cut)
    assert found_at(store, "garden 1", Cut(datetime.now(UTC))) == "too broad"
    renamed = found_at(store, "nouveau3", Cut(AT + timedelta(minutes=30)))
    assert renamed == [] and found_at(store, "nouveau3", Cut(AT + timedelta(minutes=90)))
    assert all(g != "Late0" for _, g, _ in found_at(store, "martin", Cut(AT + timedelta(hours=2))))
    assert any(g == "Late0" for _, g, _ in found_at(store, "martin late0", Cut(datetime.now(UTC))))
