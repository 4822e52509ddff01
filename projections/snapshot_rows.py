"""The read models as analysts' tables: people, functions and organisations as they stand now.

Names and attribute values are pseudonymised like the log's personal fields (projections/log_export.py);
ids, dates, statuses and counts stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from projections.log_export import Kind, Pseudonyms
from projections.person_model import PersonView

CHANNELS = ("sms", "email", "call", "web")

PEOPLE_COLUMNS: list[tuple[str, Kind]] = [
    ("person_id", "string"),
    ("given_name", "string"),
    ("family_name", "string"),
    ("provisional", "bool"),
    ("registered_at", "timestamp"),
    ("merged_into", "string"),
    ("erased_on", "date"),
    ("events_applied", "int"),
    ("last_event_at", "timestamp"),
    ("main_function_id", "string"),
    ("functions", "int"),
    ("interactions", "int"),
    *[(f"interactions_{channel}", "int") for channel in CHANNELS],
]
FUNCTION_COLUMNS: list[tuple[str, Kind]] = [
    ("person_id", "string"),
    ("function_id", "string"),
    ("organisation_id", "string"),
    ("title_code", "string"),
    ("title_label", "string"),
    ("entered_on", "date"),
    ("exits_on", "date"),
    ("active", "bool"),
    ("priority", "int"),  # 1 = the main function, among the active ones; null when ended
    ("interactions", "int"),
    *[(f"interactions_{channel}", "int") for channel in CHANNELS],
]
ORGANISATION_COLUMNS: list[tuple[str, Kind]] = [
    ("organisation_id", "string"),
    ("name", "string"),
    ("kind", "string"),
    ("relationship", "string"),
]


def _per_channel(counts: Mapping[str, int]) -> dict[str, int]:
    return {f"interactions_{channel}": int(counts.get(channel, 0)) for channel in CHANNELS} | {
        "interactions": int(sum(counts.values()))
    }


def people_rows(views: Iterable[PersonView], pseudonyms: Pseudonyms, today: date) -> list[dict[str, Any]]:
    rows = []
    for view in views:
        active = view.active_functions(today)
        rows.append(
            {
                "person_id": view.person_id,
                "given_name": pseudonyms.of(view.person_id, view.given_name),
                "family_name": pseudonyms.of(view.person_id, view.family_name),
                "provisional": view.provisional,
                "registered_at": view.registered_at,
                "merged_into": view.merged_into,
                "erased_on": view.erased_on,
                "events_applied": view.events_applied,
                "last_event_at": view.last_event_at,
                "main_function_id": active[0].function_id if active else None,
                "functions": len(view.functions),
                **_per_channel(view.interactions),
            }
        )
    return rows


def function_rows(views: Iterable[PersonView], titles: Mapping[str, Any], today: date) -> list[dict[str, Any]]:
    rows = []
    for view in views:
        priority = {f.function_id: rank for rank, f in enumerate(view.active_functions(today), start=1)}
        for function in view.functions.values():
            rows.append(
                {
                    "person_id": view.person_id,
                    "function_id": function.function_id,
                    "organisation_id": function.organisation_id,
                    "title_code": function.title_code,
                    "title_label": (titles.get(function.title_code) or {}).get("label"),
                    "entered_on": function.entered_on,
                    "exits_on": function.exits_on,
                    "active": function.is_active_on(today),
                    "priority": priority.get(function.function_id),
                    **_per_channel(view.function_interactions.get(function.function_id, {})),
                }
            )
    return rows


def organisation_rows(organisations: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "organisation_id": organisation_id,
            "name": document.get("name"),
            "kind": document.get("kind"),
            "relationship": document.get("relationship"),
        }
        for organisation_id, document in sorted(organisations.items())
    ]
