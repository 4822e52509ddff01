"""The purity contracts name their modules one by one: a new parser or fold must join its contract."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Everything in projections/ that is not a pure fold: decoding, keys, ports, stores, the projector,
# the live push's fan-out.
NOT_FOLDS = {"facts", "data_keys", "ports", "memory_store", "projector", "rebuild", "changes"}
# Everything in channels/ that is not a provider parser: the log's modules.
NOT_PARSERS = {"kafka", "memory", "client"}


def contract(name_start: str) -> set[str]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (found,) = [c for c in contracts if c["name"].startswith(name_start)]
    return set(found["source_modules"])


def modules(package: str, leaving_out: set[str]) -> set[str]:
    return {
        f"{package}.{path.stem}"
        for path in (ROOT / package).glob("*.py")
        if path.stem != "__init__" and path.stem not in leaving_out and not path.stem.startswith("postgres_")
    }


def test_every_fold_of_the_projections_is_under_the_purity_contract():
    assert contract("Read-model folds are pure") == modules("projections", NOT_FOLDS)


def test_every_provider_parser_is_under_the_purity_contract():
    assert contract("Provider parsers are pure") == modules("channels", NOT_PARSERS)
