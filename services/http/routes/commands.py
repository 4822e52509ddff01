"""Commands: they go through the aggregates (invariants, named errors) and answer with the log
positions of their events, which a client gives as min_position to read its own write."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path

from schemas.api import (
    AttributeIn,
    CommandOut,
    FunctionEndIn,
    FunctionIn,
    FunctionOrderIn,
    JoinIn,
    LevelIn,
    OrganisationIn,
    PersonIn,
    Problem,
    RelationshipIn,
    TitleIn,
)
from services.application.crossview import Crossview
from services.http.access import AsAdmin, AsAdvisor
from services.http.deps import App, positions_out, today

router = APIRouter(tags=["commands"])

# Path names become event fields: constrained here exactly as the event contract constrains them
# (schemas/events.py), so a command the contract would refuse is a 422 before anything is stored.
TitleCode = Annotated[str, Path(min_length=1, max_length=100, description="The title's code.")]
AttributeName = Annotated[str, Path(min_length=1, max_length=100, description="The attribute's name.")]
FunctionId = Annotated[str, Path(min_length=1, max_length=200, description="The function's id.")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown person, organisation, function or title"},
    409: {"model": Problem, "description": "A business rule refused the command (the problem says which)"},
}


def run_command(crossview, use_case: Callable[[Crossview], Any]) -> CommandOut:
    """Run a use case on the write side; its id, where its events sit, and whether they are relayed."""
    result, positions = crossview.commands.run(use_case)
    return CommandOut(
        id=None if result is None else str(result),
        positions=positions_out(positions),
        relayed=crossview.commands.relayed(positions),
    )


@router.post("/v1/persons", status_code=201, response_model=CommandOut, responses=ERRORS)
def register_person(crossview: App, caller: AsAdvisor, body: PersonIn) -> CommandOut:
    """Identify a person once; the answer's id is their person id."""
    return run_command(crossview, lambda app: app.register_person(body.given_name, body.family_name))


@router.post("/v1/persons/{person_id}/functions", status_code=201, response_model=CommandOut, responses=ERRORS)
def assign_function(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, body: FunctionIn) -> CommandOut:
    """Give the person a function (a title from the referential) at an organisation, from a date,
    optionally until one. The answer's id is the function id."""
    return run_command(
        crossview,
        lambda app: app.assign_function(
            person_id, body.organisation_id, body.title_code, body.entered_on, body.exits_on
        ),
    )


@router.post("/v1/persons/{person_id}/functions/{function_id}/end", response_model=CommandOut, responses=ERRORS)
def end_function(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, function_id: FunctionId, body: FunctionEndIn
) -> CommandOut:
    """End a function: it leaves search and targeting after that day, and stays in the history."""
    return run_command(crossview, lambda app: app.end_function(person_id, function_id, body.exited_on))


@router.put("/v1/persons/{person_id}/functions/order", response_model=CommandOut, responses=ERRORS)
def reorder_functions(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, body: FunctionOrderIn) -> CommandOut:
    """Put the person's functions in a new priority order (the drag and drop): every function once, or
    only the functions active today, as the 360° view lists them (the others keep their order after
    them). The first active function is the main function."""
    return run_command(crossview, lambda app: app.reprioritise_functions(person_id, body.function_ids, today()))


@router.put("/v1/persons/{person_id}/attributes/{name}", response_model=CommandOut, responses=ERRORS)
def set_attribute(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, name: AttributeName, body: AttributeIn
) -> CommandOut:
    """Set an attribute on the person, or on one of their functions, as the ownership policy says."""
    return run_command(crossview, lambda app: app.set_attribute(person_id, name, body.value, body.function_id))


@router.put("/v1/persons/{person_id}/name", response_model=CommandOut, responses=ERRORS)
def rename_person(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, body: PersonIn) -> CommandOut:
    """Correct a person's name, or name a provisional person (an unknown caller the advisor now knows)."""
    return run_command(crossview, lambda app: app.rename_person(person_id, body.given_name, body.family_name))


@router.post("/v1/persons/{person_id}/joins", response_model=CommandOut, responses=ERRORS)
def join_people(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, body: JoinIn) -> CommandOut:
    """Join another person into this one (the survivor): one history, one set of contact points, and
    later interactions through either go to the survivor. Recorded as events; DELETE undoes it."""
    return run_command(crossview, lambda app: app.join_people(person_id, body.absorbed_id))


@router.delete("/v1/persons/{person_id}/joins/{absorbed_id}", response_model=CommandOut, responses=ERRORS)
def separate_people(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, absorbed_id: uuid.UUID) -> CommandOut:
    """Undo a join: the absorbed person has their own view, history and contact points again.
    Interactions that reached the survivor while the two were one stay the survivor's."""
    return run_command(crossview, lambda app: app.separate_people(person_id, absorbed_id))


@router.post("/v1/organisations", status_code=201, response_model=CommandOut, responses=ERRORS)
def register_organisation(crossview: App, caller: AsAdvisor, body: OrganisationIn) -> CommandOut:
    """Add an organisation; the answer's id is its organisation id."""
    return run_command(crossview, lambda app: app.register_organisation(body.name, body.kind, body.relationship))


@router.put("/v1/organisations/{organisation_id}/relationship", response_model=CommandOut, responses=ERRORS)
def change_relationship(
    crossview: App, caller: AsAdvisor, organisation_id: uuid.UUID, body: RelationshipIn
) -> CommandOut:
    """Record that the organisation became a client, prospect or prescriber."""
    return run_command(crossview, lambda app: app.change_relationship(organisation_id, body.relationship, body.since))


@router.put("/v1/titles/{code}", response_model=CommandOut, responses=ERRORS, tags=["administration"])
def define_title(crossview: App, caller: AsAdmin, code: TitleCode, body: TitleIn) -> CommandOut:
    """Add a function title to the referential, or relabel it."""
    return run_command(crossview, lambda app: app.define_title(code, body.label))


@router.post("/v1/titles/{code}/retire", response_model=CommandOut, responses=ERRORS, tags=["administration"])
def retire_title(crossview: App, caller: AsAdmin, code: TitleCode) -> CommandOut:
    """Stop giving a title; functions that have it keep it and stay readable."""
    return run_command(crossview, lambda app: app.retire_title(code))


@router.put("/v1/attribute-policy/{attribute}", response_model=CommandOut, responses=ERRORS, tags=["administration"])
def set_attribute_level(crossview: App, caller: AsAdmin, attribute: AttributeName, body: LevelIn) -> CommandOut:
    """Decide whether an attribute is carried by the person or by each function. It applies from now
    on: values already set stay where they were until set again."""
    return run_command(crossview, lambda app: app.set_attribute_level(attribute, body.level))
