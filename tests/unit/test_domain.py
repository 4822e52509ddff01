"""The multifunction model's rules, given/when/then, on the aggregates and the use cases (in memory)."""

from datetime import date

import pytest

from domain.errors import (
    AttributeLevelError,
    DuplicateActiveFunctionError,
    ExitBeforeEntryError,
    FunctionAlreadyEndedError,
    NotAPermutationError,
    NotFoundError,
    RetiredTitleError,
    UnknownFunctionError,
    UnknownTitleError,
)
from domain.person import Person
from services.application.crossview import Crossview


@pytest.fixture
def app():
    app = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for code, label in [
        ("MANAGING_DIRECTOR", "Managing director"),
        ("BOARD_MEMBER", "Board member"),
        ("TREASURER", "Treasurer"),
        ("FINANCE_DIRECTOR", "Finance director"),
    ]:
        app.define_title(code, label)
    return app


@pytest.fixture
def fabien():
    return Person("Fabien", "Bellemare")


def test_functions_are_ordered_chronologically_by_default(fabien):
    fabien.assign_function("garden", "org-garden", "MANAGING_DIRECTOR", date(2021, 1, 4))
    fabien.assign_function("delta", "org-delta", "FINANCE_DIRECTOR", date(2015, 3, 1), date(2020, 12, 31))
    fabien.assign_function("croissance", "org-croissance", "TREASURER", date(2024, 9, 15))
    assert fabien.priority == ["delta", "garden", "croissance"]


def test_reordering_must_be_a_permutation_of_the_persons_functions(fabien):
    fabien.assign_function("garden", "org-garden", "MANAGING_DIRECTOR", date(2021, 1, 4))
    fabien.assign_function("croissance", "org-croissance", "TREASURER", date(2024, 9, 15))
    fabien.reprioritise_functions(["croissance", "garden"])
    assert fabien.priority == ["croissance", "garden"]
    for bad in (["garden"], ["garden", "garden"], ["garden", "someone-elses"]):
        with pytest.raises(NotAPermutationError):
            fabien.reprioritise_functions(bad)


def test_an_exit_before_the_entry_is_refused(fabien):
    with pytest.raises(ExitBeforeEntryError):
        fabien.assign_function("x", "org", "TREASURER", date(2024, 1, 1), date(2023, 1, 1))
    fabien.assign_function("x", "org", "TREASURER", date(2024, 1, 1))
    with pytest.raises(ExitBeforeEntryError):
        fabien.end_function("x", date(2023, 12, 31))


def test_the_same_title_at_the_same_organisation_cannot_overlap_in_time(fabien):
    fabien.assign_function("first", "org", "TREASURER", date(2020, 1, 1), date(2021, 12, 31))
    with pytest.raises(DuplicateActiveFunctionError):
        fabien.assign_function("second", "org", "TREASURER", date(2021, 6, 1))
    fabien.assign_function("again", "org", "TREASURER", date(2022, 1, 1))  # after the first ended: fine
    fabien.assign_function("other", "org", "BOARD_MEMBER", date(2022, 1, 1))  # another title: fine


def test_ending_a_function_keeps_it_and_ending_it_twice_is_refused(fabien):
    fabien.assign_function("delta", "org-delta", "FINANCE_DIRECTOR", date(2015, 3, 1))
    fabien.end_function("delta", date(2020, 12, 31))
    assert fabien.functions["delta"].exits_on == date(2020, 12, 31)
    assert not fabien.functions["delta"].is_active_on(date(2021, 1, 1))
    with pytest.raises(FunctionAlreadyEndedError):
        fabien.end_function("delta", date(2021, 6, 30))
    with pytest.raises(UnknownFunctionError):
        fabien.end_function("nope", date(2021, 6, 30))


def test_a_function_is_active_from_its_entry_to_its_exit_date_inclusive():
    person = Person("Ada", "Lovelace")
    person.assign_function("f", "org", "TREASURER", date(2026, 1, 1), date(2026, 6, 30))
    function = person.functions["f"]
    assert [
        function.is_active_on(d) for d in (date(2025, 12, 31), date(2026, 1, 1), date(2026, 6, 30), date(2026, 7, 1))
    ] == [False, True, True, False]


def test_assigning_needs_a_known_organisation_and_a_current_title(app):
    person = app.register_person("Fabien", "Bellemare")
    garden = app.register_organisation("Fabulous Garden", "company", "client")
    with pytest.raises(NotFoundError):
        app.assign_function(person, app.register_person("Not", "AnOrganisation"), "TREASURER", date(2024, 1, 1))
    with pytest.raises(UnknownTitleError):
        app.assign_function(person, garden, "GARDENER", date(2024, 1, 1))
    app.retire_title("TREASURER")
    with pytest.raises(RetiredTitleError):
        app.assign_function(person, garden, "TREASURER", date(2024, 1, 1))
    assert app.assign_function(person, garden, "MANAGING_DIRECTOR", date(2021, 1, 4))


def test_an_attribute_is_set_only_at_the_level_the_policy_gives_it(app):
    person = app.register_person("Fabien", "Bellemare")
    garden = app.register_organisation("Fabulous Garden", "company", "client")
    function = app.assign_function(person, garden, "MANAGING_DIRECTOR", date(2021, 1, 4))
    app.set_attribute(person, "mobile_phone", "+33612345678")
    with pytest.raises(AttributeLevelError, match="policy puts 'mobile_phone' on the person"):
        app.set_attribute(person, "mobile_phone", "+33600000000", function)
    app.set_attribute(person, "email", "fabien@fabulous-garden.example", function)
    app.set_attribute_level("mobile_phone", "function")  # from now on, one mobile per function
    app.set_attribute(person, "mobile_phone", "+33699999999", function)
    loaded = app.repository.get(person)
    assert loaded.attributes == {"mobile_phone": "+33612345678"}  # the old value stays where it was set
    assert loaded.function_attributes[function] == {
        "email": "fabien@fabulous-garden.example",
        "mobile_phone": "+33699999999",
    }


def test_unknown_people_and_functions_are_named_errors(app):
    with pytest.raises(NotFoundError):
        app.end_function(app.register_organisation("X", "company", "prospect"), "f", date(2024, 1, 1))
    person = app.register_person("Fabien", "Bellemare")
    with pytest.raises(UnknownFunctionError):
        app.set_attribute(person, "email", "x@example.org", "not-his")
