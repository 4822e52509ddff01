"""A synthetic population for the write side: organisations, people to register through the bulk
use case, and their interactions. Deterministic (same seed, same ids), so a load can resume.

Organisation sizes are skewed as in life (a few big, most small: the n-th of M organisations is
drawn with a density falling as 1/sqrt(n)), and one organisation is given ``big`` people on top.
Family names are mostly common ones (a search for one matches a tenth of everybody) and, for a
fifth of the people, a rare name made of syllables (a handful of people share each one).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from domain.organisation import organisation_id_for
from schemas.envelope import CloudEvent
from schemas.events import (
    AttributeSet,
    ContactPointAdded,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    OrganisationRegistered,
    PersonRegistered,
    TitleDefined,
)
from services.application.bulk import NewFunction, NewPerson
from services.demo.data import DEMO_NAMESPACE, TITLES, event, interaction_of

COMMON_FAMILY_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau", "Simon"]
GIVEN_NAMES = ["Fabien", "Claire", "Amine", "Sophie", "Louis", "Nadia", "Hugo", "Emma", "Karim", "Léa", "Jules", "Inès"]
_SYLLABLES = ["ba", "ko", "ri", "de", "lu", "ma", "no", "ve", "ti", "sa", "gor", "len", "mir", "pha", "qui", "zel"]
_ORG_WORDS = ["Garden", "Telecom", "Networks", "Bakery", "Transport", "Energy", "Association", "Town of", "Clinic"]


def organisation_key(seed: int, n: int) -> str:
    return f"population:{seed}:organisation:{n}"


def big_organisation_id(seed: int) -> uuid.UUID:
    """The organisation given ``big`` people on top of its share: organisation 0."""
    return organisation_id_for(organisation_key(seed, 0))


def person_id(seed: int, n: int) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"population:{seed}:person:{n}")


def organisations(count: int, seed: int = 11) -> Iterator[tuple[str, str, str, str]]:
    """(external key, name, kind, relationship) of each organisation, in order."""
    rng = random.Random(seed)
    for n in range(count):
        kind = rng.choice(["company", "company", "association", "public_body"])
        relationship = rng.choice(["client", "prospect", "prescriber"])
        yield organisation_key(seed, n), f"{rng.choice(_ORG_WORDS)} {n}", kind, relationship


def rare_family_name(n: int) -> str:
    """A name few people share: three syllables from n (4,096 names in all)."""
    a, b, c = n % 16, (n // 16) % 16, (n // 256) % 16
    return (_SYLLABLES[a] + _SYLLABLES[b] + _SYLLABLES[c]).capitalize()


def people(count: int, organisations: int, big: int, seed: int = 11, start: int = 0) -> Iterator[NewPerson]:
    """People ``start`` to ``count`` - 1: one to four functions each (a quarter ended, a few starting
    in the future), a title from the referential, a mobile each, an email per function."""
    titles = list(TITLES)
    big_id = big_organisation_id(seed)
    every = max(1, count // big) if big else 0  # one person in `every` works at the big organisation
    for n in range(start, count):
        rng = random.Random(f"{seed}:{n}")  # per person: the same person whatever the start
        functions = []
        for k in range(rng.choice([1, 1, 2, 2, 3, 4])):
            if k == 0 and every and n % every == 0 and n // every < big:
                organisation = big_id
            else:
                organisation = organisation_id_for(organisation_key(seed, int(organisations * rng.random() ** 2)))
            entered = date(2010 + rng.randrange(16), 1 + rng.randrange(12), 1)
            if rng.random() < 0.05:
                entered = date(2027, 1, 1)  # not started yet
            exited = date(2026, 1 + rng.randrange(12), 28) if rng.random() < 0.25 and entered.year < 2026 else None
            functions.append(
                NewFunction(organisation, titles[(n + k) % len(titles)], entered, exited, f"p{n}.f{k}@example.org")
            )
        family = rare_family_name(n) if rng.random() < 0.2 else rng.choice(COMMON_FAMILY_NAMES)
        order = None
        if len(functions) > 1 and rng.random() < 0.3:
            order = tuple(rng.sample(range(len(functions)), len(functions)))
        yield NewPerson(person_id(seed, n), rng.choice(GIVEN_NAMES), family, f"+336{n:08d}", tuple(functions), order)


def interaction_count(count: int, per_person: int, seed: int = 11, first: int = 0) -> int:
    """How many events ``interactions`` yields, without making them."""
    return sum(random.Random(f"{seed}:{n}:interactions").randrange(2 * per_person + 1) for n in range(first, count))


def interactions(count: int, per_person: int, seed: int = 11, first: int = 0) -> Iterator[CloudEvent]:
    """About ``per_person`` interactions for each of people ``first`` to ``count`` - 1 (0 to twice
    as many), on every channel, addressed to the person's own mobile and first email."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(first, count):
        rng = random.Random(f"{seed}:{n}:interactions")
        subject, mobile = str(person_id(seed, n)), f"+336{n:08d}"
        for step in range(rng.randrange(2 * per_person + 1)):
            key = f"population:{seed}:{n}:{step}"
            at = start + timedelta(minutes=step * 37 + n % 60)
            data = interaction_of(rng, key, mobile, f"p{n}.f0@example.org", campaign="load")
            yield event(subject, data, at, key, source="crossview/population")


def registration_events(count: int, organisation_count: int, seed: int = 11) -> Iterator[CloudEvent]:
    """The titles, organisations and ``count`` people of the population as the relay publishes them
    once the bulk use case stored them (the same names, contact points, functions and priorities),
    without the event store: for tests and measurements of the read side."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    referential = str(uuid.uuid5(DEMO_NAMESPACE, f"population:{seed}:titles"))
    for code, label in TITLES.items():
        yield event(referential, TitleDefined(code=code, label=label), at, f"population:{seed}:title:{code}")
    for key, name, kind, relationship in organisations(organisation_count, seed):
        data = OrganisationRegistered(name=name, kind=kind, relationship=relationship)
        yield event(str(organisation_id_for(key)), data, at, key)
    for n, new in enumerate(people(count, organisation_count, big=0, seed=seed)):
        subject, key = str(new.person_id), f"population:{seed}:person:{n}"
        facts: list = [
            PersonRegistered(given_name=new.given_name, family_name=new.family_name),
            ContactPointAdded(kind="phone", address=new.mobile_phone),
            AttributeSet(name="mobile_phone", value=new.mobile_phone),
        ]
        function_ids = []
        for k, function in enumerate(new.functions):
            function_id = str(uuid.uuid5(new.person_id, f"function:{k}"))
            function_ids.append(function_id)
            facts.append(
                FunctionAssigned(
                    function_id=function_id,
                    organisation_id=str(function.organisation_id),
                    title_code=function.title_code,
                    entered_on=function.entered_on,
                )
            )
            if function.exited_on is not None:
                facts.append(FunctionEnded(function_id=function_id, exited_on=function.exited_on))
            facts.append(ContactPointAdded(kind="email", address=function.email))
            facts.append(AttributeSet(name="email", value=function.email, function_id=function_id))
        if new.reprioritised is not None:
            facts.append(FunctionsReprioritised(function_ids=[function_ids[k] for k in new.reprioritised]))
        for step, data in enumerate(facts):
            yield event(subject, data, at, f"{key}:{step}")
