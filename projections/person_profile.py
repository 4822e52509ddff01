"""The profile part of the person fold: functions and their priority, attributes, contact points and
joins, in the order their aggregate stored them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.person import Function, insert_chronologically
from projections.person_model import PersonView
from schemas.events import (
    AttributeSet,
    ContactPointAdded,
    ContactPointRemoved,
    FunctionAssigned,
    FunctionEnded,
    FunctionsReprioritised,
    PersonJoined,
    PersonMerged,
    PersonRestored,
    PersonSeparated,
)


@dataclass
class Profile:
    """The mutable working copy of a person's functions and attributes during one fold."""

    attributes: dict[str, str | None]
    functions: dict[str, Function]
    priority: list[str]
    function_attributes: dict[str, dict[str, str | None]]
    function_interactions: dict[str, dict[str, int]]
    absorbed: list[str]
    merged_into: str | None
    contact_points: list[str]

    @classmethod
    def of(cls, view: PersonView, copy: bool = True) -> Profile:
        if not copy:
            return cls(
                view.attributes,
                view.functions,
                view.priority,
                view.function_attributes,  # type: ignore[arg-type]
                view.function_interactions,
                view.absorbed,
                view.merged_into,
                view.contact_points,
            )
        return cls(
            dict(view.attributes),
            dict(view.functions),
            list(view.priority),
            {f: dict(a) for f, a in view.function_attributes.items()},
            {f: dict(c) for f, c in view.function_interactions.items()},
            list(view.absorbed),
            view.merged_into,
            list(view.contact_points),
        )

    def apply(self, data: Any) -> None:
        if isinstance(data, FunctionAssigned):
            if data.function_id not in self.functions:
                entered = {f: self.functions[f].entered_on for f in self.priority}
                self.priority = insert_chronologically(self.priority, entered, data.function_id, data.entered_on)
            self.functions[data.function_id] = Function(
                data.function_id, data.organisation_id, data.title_code, data.entered_on, data.exits_on
            )
        elif isinstance(data, FunctionEnded) and data.function_id in self.functions:
            function = self.functions[data.function_id]
            self.functions[data.function_id] = Function(
                function.function_id,
                function.organisation_id,
                function.title_code,
                function.entered_on,
                data.exited_on,
            )
        elif isinstance(data, FunctionsReprioritised):
            self.priority = [f for f in data.function_ids if f in self.functions]
        elif isinstance(data, ContactPointAdded):
            if f"{data.kind}:{data.address}" not in self.contact_points:
                self.contact_points.append(f"{data.kind}:{data.address}")
        elif isinstance(data, PersonJoined):
            if data.absorbed_id not in self.absorbed:
                self.absorbed.append(data.absorbed_id)
        elif isinstance(data, PersonMerged):
            self.merged_into = data.survivor_id
        elif isinstance(data, ContactPointRemoved):
            if f"{data.kind}:{data.address}" in self.contact_points:
                self.contact_points.remove(f"{data.kind}:{data.address}")
        elif isinstance(data, PersonSeparated):
            if data.absorbed_id in self.absorbed:
                self.absorbed.remove(data.absorbed_id)
        elif isinstance(data, PersonRestored):
            self.merged_into = None
        elif isinstance(data, AttributeSet):
            target = (
                self.attributes
                if data.function_id is None
                else self.function_attributes.setdefault(data.function_id, {})
            )
            target[data.name] = data.value
