"""Administrators' referentials: the catalogue of function titles and the attribute ownership policy.

Each is one aggregate with a fixed id, so the event store's version check serialises its changes.
"""

from __future__ import annotations

import uuid
from typing import Literal

from eventsourcing.domain import Aggregate, event

from domain.errors import AttributeLevelError, RetiredTitleError, UnknownTitleError

REFERENTIALS = uuid.UUID("0b5cf3a4-6f0c-4f63-9d3e-0d9f1f7a2c11")
Level = Literal["person", "function"]
# Until an administrator decides otherwise: one mobile for the person, an email and an address per function.
DEFAULT_LEVELS: dict[str, Level] = {"mobile_phone": "person", "email": "function", "postal_address": "function"}


class TitleReferential(Aggregate):
    """Function titles (code, label); a retired title stays readable but cannot be given any more."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return uuid.uuid5(REFERENTIALS, "function-titles")

    @event("Started")
    def __init__(self) -> None:
        self.titles: dict[str, str] = {}
        self.retired: set[str] = set()

    def define_title(self, code: str, label: str) -> None:
        if self.titles.get(code) != label or code in self.retired:
            self._defined(code, label)

    def retire_title(self, code: str) -> None:
        self.check_known(code)
        if code not in self.retired:
            self._retired(code)

    def check_known(self, code: str) -> None:
        if code not in self.titles:
            raise UnknownTitleError(f"no function title {code!r} in the referential")

    def check_assignable(self, code: str) -> None:
        self.check_known(code)
        if code in self.retired:
            raise RetiredTitleError(f"function title {code!r} is retired")

    @event("TitleDefined")
    def _defined(self, code: str, label: str) -> None:
        self.titles[code] = label
        self.retired.discard(code)

    @event("TitleRetired")
    def _retired(self, code: str) -> None:
        self.retired.add(code)


class AttributePolicy(Aggregate):
    """Which attributes a person carries once, and which each of their functions carries.

    A change applies from then on: values already set stay where they were, tagged with the
    level they were set at, until they are set again at the new level.
    """

    @staticmethod
    def create_id() -> uuid.UUID:
        return uuid.uuid5(REFERENTIALS, "attribute-policy")

    @event("Started")
    def __init__(self) -> None:
        self.levels: dict[str, str] = dict(DEFAULT_LEVELS)

    def set_level(self, attribute: str, level: Level) -> None:
        if self.levels.get(attribute) != level:
            self._level_set(attribute, level)

    def level_of(self, attribute: str) -> str:
        return self.levels.get(attribute, "person")

    def check_level(self, attribute: str, on_function: bool) -> None:
        expected = self.level_of(attribute)
        if (expected == "function") != on_function:
            raise AttributeLevelError(
                f"the attribute ownership policy puts {attribute!r} on the {expected}"
                + (": give a function_id" if expected == "function" else ": do not give a function_id")
            )

    @event("LevelSet")
    def _level_set(self, attribute: str, level: Level) -> None:
        self.levels[attribute] = level
