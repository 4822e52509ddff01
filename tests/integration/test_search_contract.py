"""Search answers the same on PostgreSQL as in memory over a few thousand people of the load's
population (common and rare family names, phones, emails, organisations, titles): the first
people every word matches, in the same order, whatever the limit; PostgreSQL reads them off its
indexes (postgres_search) where memory reads everyone."""

from __future__ import annotations

from datetime import date

from projections.directory import matches
from projections.memory_store import MemoryStore
from services.demo import population
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
]


def found(store, query: str, limit: int) -> list[tuple[str | None, str | None, str]]:
    """What the route answers (services/http/routes/queries.py, ``search``)."""
    candidates, refs = store.search_candidates(query, DAY, limit)
    kept = sorted(
        (v for v in candidates if v.merged_into is None and matches(v, refs, query, DAY)),
        key=lambda v: (v.family_name or "", v.given_name or "", v.person_id),
    )[:limit]
    return [(v.family_name, v.given_name, v.person_id) for v in kept]


def test_search_answers_alike_on_a_population(settings, store):
    memory = MemoryStore()
    project(memory, settings, EVENTS, batch=5000)
    project(store, settings, EVENTS, batch=5000)
    for query in QUERIES:
        for limit in (1, 20, 200):
            expected = found(memory, query, limit)
            assert found(store, query, limit) == expected, (query, limit)
            if query in ("martin", "example", "garden", "léa"):
                assert len(expected) == limit, (query, limit)  # more matches than the limit
    assert found(store, "nobody-has-this", 20) == []
