"""A person, identified once, holding several dated, reorderable functions at several organisations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    DuplicateActiveFunctionError,
    ExitBeforeEntryError,
    FunctionAlreadyEndedError,
    JoinError,
    NotAPermutationError,
    UnknownFunctionError,
)


@dataclass(frozen=True)
class Function:
    """A role held at an organisation, from ``entered_on`` to ``exits_on`` (inclusive), or open-ended."""

    function_id: str
    organisation_id: str
    title_code: str
    entered_on: date
    exits_on: date | None = None

    def is_active_on(self, day: date) -> bool:
        return self.entered_on <= day and (self.exits_on is None or day <= self.exits_on)

    def overlaps(self, entered_on: date, exits_on: date | None) -> bool:
        return (self.exits_on is None or entered_on <= self.exits_on) and (
            exits_on is None or self.entered_on <= exits_on
        )


def insert_chronologically(priority: list[str], entered: Mapping[str, date], function_id: str, on: date) -> list[str]:
    """The default order: a new function goes after every function that started no later."""
    position = sum(1 for f in priority if entered[f] <= on)
    return [*priority[:position], function_id, *priority[position:]]


class Person(Aggregate):
    @event("Registered")
    def __init__(self, given_name: str | None, family_name: str | None, provisional: bool = False) -> None:
        # A provisional person was created for an unknown contact point: no name yet, joined later.
        self.given_name = given_name
        self.family_name = family_name
        self.provisional = provisional
        self.contact_points: list[tuple[str, str]] = []  # (kind, address) claimed in the index
        self.absorbed: list[str] = []  # people joined into this one
        self.merged_into: str | None = None
        self.attributes: dict[str, str | None] = {}
        self.function_attributes: dict[str, dict[str, str | None]] = {}
        self.functions: dict[str, Function] = {}
        self.priority: list[str] = []  # function ids, first = highest priority

    # --- commands -------------------------------------------------------------------------

    def assign_function(
        self, function_id: str, organisation_id: str, title_code: str, entered_on: date, exits_on: date | None = None
    ) -> None:
        self.check_dates(entered_on, exits_on)
        self.check_not_duplicate(organisation_id, title_code, entered_on, exits_on)
        self._assign(function_id, organisation_id, title_code, entered_on, exits_on)

    def end_function(self, function_id: str, exited_on: date) -> None:
        function = self.function(function_id)
        if function.exits_on is not None and function.exits_on <= exited_on:
            raise FunctionAlreadyEndedError(f"function {function_id} already ends on {function.exits_on}")
        self.check_dates(function.entered_on, exited_on)
        self._end(function_id, exited_on)

    def reprioritise_functions(self, function_ids: list[str], active_on: date | None = None) -> None:
        """A new priority order: every function once, or (given ``active_on``) only the functions
        active that day, as an advisor sees them; the others then keep their order after them."""
        order = list(function_ids)
        if active_on is not None and len(set(order)) == len(order):
            active = {f for f in self.priority if self.functions[f].is_active_on(active_on)}
            if set(order) == active:
                order += [f for f in self.priority if f not in active]
        if sorted(order) != sorted(self.priority) or len(set(order)) != len(order):
            active_ids = sorted(f for f in self.priority if active_on and self.functions[f].is_active_on(active_on))
            raise NotAPermutationError(
                "the new order must list each of the person's functions once"
                + (f", or each of their active functions once: {active_ids}" if active_on else "")
                + f" (all: {sorted(self.priority)})"
            )
        self._reprioritise(order)

    def set_attribute(self, name: str, value: str | None, function_id: str | None = None) -> None:
        if function_id is not None:
            self.function(function_id)
        self._set_attribute(name, value, function_id)

    def rename(self, given_name: str, family_name: str) -> None:
        """Correct the name, or name a provisional person (who is then no longer provisional)."""
        if (given_name, family_name) != (self.given_name, self.family_name) or self.provisional:
            self._renamed(given_name, family_name)

    def note_contact_point(self, kind: str, address: str) -> None:
        if (kind, address) not in self.contact_points:
            self._contact_point_added(kind, address)

    def join(self, absorbed: Person) -> None:
        """Make ``absorbed`` part of this person: their histories become one (recorded, so it can be undone)."""
        if absorbed.id == self.id:
            raise JoinError("a person cannot be joined with themselves")
        for person in (self, absorbed):
            if person.merged_into is not None:
                raise JoinError(
                    f"person {person.id} was already joined into another person"
                )  # never named: not theirs to know
        self._joined(str(absorbed.id))
        absorbed._merged_into(str(self.id))

    def separate(self, absorbed: Person) -> None:
        """Undo a join: ``absorbed`` is a person of their own again, with the contact points they
        brought. What reached the survivor meanwhile stays the survivor's."""
        if str(absorbed.id) not in self.absorbed or absorbed.merged_into != str(self.id):
            raise JoinError(f"person {absorbed.id} is not joined into {self.id}")
        self._separated(str(absorbed.id))
        absorbed._restored(str(self.id))
        for kind, address in absorbed.contact_points:
            if (kind, address) in self.contact_points:
                self._contact_point_removed(kind, address)

    # --- guards ---------------------------------------------------------------------------

    def function(self, function_id: str) -> Function:
        try:
            return self.functions[function_id]
        except KeyError:
            raise UnknownFunctionError(f"person {self.id} has no function {function_id!r}") from None

    @staticmethod
    def check_dates(entered_on: date, exits_on: date | None) -> None:
        if exits_on is not None and exits_on < entered_on:
            raise ExitBeforeEntryError(f"exit date {exits_on} is before entry date {entered_on}")

    def check_not_duplicate(
        self, organisation_id: str, title_code: str, entered_on: date, exits_on: date | None
    ) -> None:
        for function in self.functions.values():
            if (
                function.organisation_id == organisation_id
                and function.title_code == title_code
                and function.overlaps(entered_on, exits_on)
            ):
                raise DuplicateActiveFunctionError(
                    f"{title_code} at organisation {organisation_id} is already held over that period "
                    f"(function {function.function_id})"
                )

    # --- events ---------------------------------------------------------------------------

    @event("FunctionAssigned")
    def _assign(
        self, function_id: str, organisation_id: str, title_code: str, entered_on: date, exits_on: date | None
    ) -> None:
        entered = {f: self.functions[f].entered_on for f in self.priority}
        self.priority = insert_chronologically(self.priority, entered, function_id, entered_on)
        self.functions[function_id] = Function(function_id, organisation_id, title_code, entered_on, exits_on)

    @event("FunctionEnded")
    def _end(self, function_id: str, exited_on: date) -> None:
        function = self.functions[function_id]
        self.functions[function_id] = Function(
            function.function_id, function.organisation_id, function.title_code, function.entered_on, exited_on
        )

    @event("FunctionsReprioritised")
    def _reprioritise(self, function_ids: list[str]) -> None:
        self.priority = function_ids

    @event("Renamed")
    def _renamed(self, given_name: str, family_name: str) -> None:
        self.given_name, self.family_name, self.provisional = given_name, family_name, False

    @event("ContactPointAdded")
    def _contact_point_added(self, kind: str, address: str) -> None:
        self.contact_points.append((kind, address))

    @event("Joined")
    def _joined(self, absorbed_id: str) -> None:
        self.absorbed.append(absorbed_id)

    @event("MergedInto")
    def _merged_into(self, survivor_id: str) -> None:
        self.merged_into = survivor_id

    @event("Separated")
    def _separated(self, absorbed_id: str) -> None:
        self.absorbed.remove(absorbed_id)

    @event("Restored")
    def _restored(self, former_survivor_id: str) -> None:
        self.merged_into = None

    @event("ContactPointRemoved")
    def _contact_point_removed(self, kind: str, address: str) -> None:
        self.contact_points.remove((kind, address))

    @event("AttributeSet")
    def _set_attribute(self, name: str, value: str | None, function_id: str | None) -> None:
        if function_id is None:
            self.attributes[name] = value
        else:
            self.function_attributes.setdefault(function_id, {})[name] = value
