"""Generated JSON Schemas (2020-12) of every event type, and the backward-compatibility rules.

``schemas/json/`` holds the schemas of the current models (a test fails when they drift);
``schemas/released/<version>/`` holds the last released snapshot, which new code must still read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.events import EVENT_TYPES, EventData

JSON_DIR = Path(__file__).parent / "json"
RELEASED_DIR = Path(__file__).parent / "released"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema_of(model: type[EventData]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"$schema": DIALECT, "$id": f"urn:crossview:event:{model.event_type}", **schema}


def current_schemas() -> dict[str, dict[str, Any]]:
    return {event_type: json_schema_of(model) for event_type, model in sorted(EVENT_TYPES.items())}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_dir(folder: Path) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def latest_release() -> Path | None:
    releases = (
        sorted((p for p in RELEASED_DIR.iterdir() if p.is_dir()), key=_version_key) if RELEASED_DIR.exists() else []
    )
    return releases[-1] if releases else None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.name.split(".") if part.isdigit())


# --- compatibility: can new code still read every event the old schema allowed? -------------


def incompatibilities(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    """Every way ``new`` would refuse events written under ``old``; empty when compatible."""
    problems: list[str] = []
    for event_type, old_schema in sorted(old.items()):
        new_schema = new.get(event_type)
        if new_schema is None:
            problems.append(f"{event_type}: type removed (old events of this type could no longer be read)")
            continue
        problems.extend(f"{event_type}: {p}" for p in _object_problems(old_schema, new_schema, old_schema, new_schema))
    return problems


def _object_problems(old: dict, new: dict, old_root: dict, new_root: dict) -> list[str]:
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"field {name!r} removed")
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"field {name!r} is newly required")
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        problems.append("unknown fields newly forbidden")
    for name, old_prop in old_props.items():
        if name in new_props:
            old_accepts = _accepted(old_prop, old_root)
            new_accepts = _accepted(new_props[name], new_root)
            lost = _narrowing(old_accepts, new_accepts)
            if lost:
                problems.append(f"field {name!r} narrowed: no longer accepts {lost}")
    return problems


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return _resolve(root["$defs"][ref.removeprefix("#/$defs/")], root)
    return schema


def _accepted(schema: dict, root: dict) -> list[dict]:
    """The alternatives a property schema accepts, flattened out of anyOf/oneOf."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [alt for option in schema[key] for alt in _accepted(option, root)]
    if "const" in schema:
        return [{"enum": [schema["const"]]}]
    return [schema]


def _narrowing(old: list[dict], new: list[dict]) -> str | None:
    if any(not alt.get("type") and "enum" not in alt for alt in new):
        return None  # new accepts anything
    for alt in old:
        if not any(_covers(n, alt) for n in new):
            return _describe(alt)
    return None


_BOUNDS_LOWER = ("minLength", "minimum", "minItems", "exclusiveMinimum")
_BOUNDS_UPPER = ("maxLength", "maximum", "maxItems", "exclusiveMaximum")


def _covers(new: dict, old: dict) -> bool:
    if "enum" in new:
        old_values = old.get("enum")
        return old_values is not None and set(map(json.dumps, old_values)) <= set(map(json.dumps, new["enum"]))
    if "enum" in old:
        return all(
            _json_type(v) == new.get("type") or (new.get("type") == "number" and _json_type(v) == "integer")
            for v in old["enum"]
        )
    old_type, new_type = old.get("type"), new.get("type")
    if not old_type:
        return False
    if old_type != new_type and not (old_type == "integer" and new_type == "number"):
        return False
    if new.get("format") and new.get("format") != old.get("format"):
        return False
    raised_floor = any(new[b] > old.get(b, float("-inf")) for b in _BOUNDS_LOWER if b in new)
    lowered_ceiling = any(new[b] < old.get(b, float("inf")) for b in _BOUNDS_UPPER if b in new)
    return not (raised_floor or lowered_ceiling)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _describe(alt: dict) -> str:
    if "enum" in alt:
        return "values " + ", ".join(map(json.dumps, alt["enum"]))
    details = {k: v for k, v in alt.items() if k in ("format", *_BOUNDS_LOWER, *_BOUNDS_UPPER)}
    return f"{alt.get('type', 'any')}" + (f" {details}" if details else "")
