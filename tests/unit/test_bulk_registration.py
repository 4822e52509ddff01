"""Registering many new people at once: the same aggregates, guards and contact-point index as the
one-by-one commands, in one transaction a batch."""

import uuid
from datetime import date

import pytest
from eventsourcing.persistence import IntegrityError

from domain.contact_point import ContactPoint, contact_point_id
from domain.errors import NotFoundError
from domain.organisation import Organisation
from domain.person import Person
from services.application.bulk import BulkRegistration, NewFunction, NewPerson
from services.application.crossview import Crossview
from services.demo import population


@pytest.fixture
def app() -> Crossview:
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.define_title("TREASURER", "Treasurer")
    return app


def fabien(organisation_id: uuid.UUID, mobile: str = "06 12 34 56 78") -> NewPerson:
    return NewPerson(
        uuid.uuid5(uuid.NAMESPACE_URL, "fabien"),
        "Fabien",
        "Bellemare",
        mobile,
        (NewFunction(organisation_id, "TREASURER", date(2024, 9, 15), email="tresorier@croissance-plus.example"),),
    )


def test_a_registered_person_holds_their_function_and_leads_from_their_contact_points(app):
    croissance = app.register_organisation("Croissance+", "association", "prescriber")
    bulk = BulkRegistration(app)
    stored = bulk.register([fabien(croissance)])
    person = app.repository.get(fabien(croissance).person_id)
    assert isinstance(person, Person) and stored > 5
    (function,) = person.functions.values()
    assert (function.organisation_id, function.title_code) == (str(croissance), "TREASURER")
    assert person.attributes["mobile_phone"] == "+33612345678"
    email = app.repository.get(contact_point_id("email", "tresorier@croissance-plus.example"))
    assert isinstance(email, ContactPoint) and email.function_id == function.function_id
    assert bulk.is_stored(person.id)


def test_a_batch_with_a_contact_point_somebody_holds_stores_nobody(app):
    croissance = app.register_organisation("Croissance+", "association", "prescriber")
    claire = app.register_person("Claire", "Dubois")
    app.set_attribute(claire, "mobile_phone", "+33612345678")
    with pytest.raises(IntegrityError):
        BulkRegistration(app).register([fabien(croissance)])
    assert not BulkRegistration(app).is_stored(fabien(croissance).person_id)


def test_an_unknown_organisation_is_refused(app):
    with pytest.raises(NotFoundError):
        BulkRegistration(app).register([fabien(uuid.uuid4())])


def test_the_synthetic_population_registers_through_the_bulk_use_case(app):
    for key, name, kind, relationship in population.organisations(10):
        app.save(Organisation(name, kind, relationship, external_key=key))
    for code, label in population.TITLES.items():
        if code != "TREASURER":
            app.define_title(code, label)
    people = list(population.people(40, 10, big=10))
    BulkRegistration(app).register(people)
    at_big = [p for p in people if p.functions[0].organisation_id == population.big_organisation_id(11)]
    assert len(at_big) >= 10
    assert list(population.people(40, 10, big=10, start=39)) == people[39:]  # resumable: the same people
