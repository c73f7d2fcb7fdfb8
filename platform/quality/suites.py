"""The Great Expectations suites in ``gx/``: what each one validates.

A suite is data: ``gx/<suite>.json`` is a serialized GX ``ExpectationSuite``
(``name``, ``expectations``, ``meta``) whose ``meta.dbt_model`` names the dbt
model it validates. :func:`load_suites` reads and checks them, without GX.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# platform/quality/suites.py -> repo root -> gx/
SUITES_DIR = Path(__file__).resolve().parents[2] / "gx"
#: the columns that identify a failing row when a suite names none (``meta.key_columns``)
DEFAULT_KEY_COLUMNS = ("event_id", "job_id")


@dataclass(frozen=True)
class SuiteSpec:
    """One expectation suite as stored in ``gx/<name>.json``."""

    name: str
    asset: str  # the dbt model the suite validates (meta.dbt_model)
    layer: str  # staging | intermediate | marts
    schema: str  # warehouse schema of the model
    description: str
    expectations: tuple[dict[str, Any], ...]
    path: Path
    # ``schema.model`` built from this model: the suite validates the rows it
    # has not read yet (meta.downstream); None = the rows of the latest run
    downstream: str | None = None
    # the columns that identify a failing row to an analyst (meta.key_columns)
    key_columns: tuple[str, ...] = DEFAULT_KEY_COLUMNS

    @property
    def relation(self) -> str:
        """``schema.model`` as built by dbt (e.g. ``marts.fact_events``)."""
        return f"{self.schema}.{self.asset}"

    def to_gx_dict(self) -> dict[str, Any]:
        """The suite in GX's own serialized form."""
        return {
            "name": self.name,
            "expectations": [json.loads(json.dumps(e)) for e in self.expectations],
            "meta": {
                "dbt_model": self.asset, "layer": self.layer, "schema": self.schema, "description": self.description,
                **({"downstream": self.downstream} if self.downstream else {}),
                "key_columns": list(self.key_columns),
            },
        }


class SuiteError(ValueError):
    """A suite file is malformed or names something that does not exist."""


def load_suites(suites_dir: Path | str | None = None) -> dict[str, SuiteSpec]:
    """Every suite in ``gx/*.json`` (or ``suites_dir``), keyed by suite name."""
    directory = Path(suites_dir) if suites_dir is not None else SUITES_DIR
    if not directory.is_dir():
        raise SuiteError(f"suites directory {directory} does not exist")
    suites: dict[str, SuiteSpec] = {}
    for path in sorted(directory.glob("*.json")):
        spec = _read_suite(path)
        if spec.name in suites:
            raise SuiteError(f"suite {spec.name!r} defined twice: {suites[spec.name].path} and {path}")
        suites[spec.name] = spec
    return suites


def _read_suite(path: Path) -> SuiteSpec:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON: {exc}") from exc
    meta = raw.get("meta") or {}
    name = raw.get("name")
    model = meta.get("dbt_model")
    expectations = raw.get("expectations")
    if not name or not model or not isinstance(expectations, list) or not expectations:
        raise SuiteError(f"{path}: a suite needs name, meta.dbt_model and a non-empty expectations list")
    for index, expectation in enumerate(expectations):
        if not isinstance(expectation, dict) or not str(expectation.get("type", "")).startswith("expect_"):
            raise SuiteError(f"{path}: expectation {index} has no expect_* type")
        if expectation.get("severity", "critical") not in ("critical", "warning", "info"):
            raise SuiteError(f"{path}: expectation {index} has an unknown severity {expectation['severity']!r}")
    layer = meta.get("layer", "")
    return SuiteSpec(
        name=name,
        asset=model,
        layer=layer,
        schema=meta.get("schema") or layer,
        description=meta.get("description", ""),
        expectations=tuple(expectations),
        path=path,
        downstream=meta.get("downstream") or None,
        key_columns=tuple(meta.get("key_columns") or DEFAULT_KEY_COLUMNS),
    )
