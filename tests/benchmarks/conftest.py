"""Fixtures for the benchmark tests: a small generated input and one real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import datagen, worker


def run_in_process(contender: str, fmt: str, input_path: Path, out: Path, mode: str = "staged") -> dict:
    """One worker run in this process (no subprocess): its result dict, status ok."""
    tag = f"{contender}-{mode}-{fmt}"
    result_path = out / f"{tag}.json"
    code = worker.run(contender, mode, fmt, input_path, out / f"{tag}.parquet", out / f"{tag}.work", result_path)
    assert code == 0
    return {**json.loads(result_path.read_text()), "status": "ok", "run": 1}


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> datagen.Dataset:
    dataset, _ = datagen.ensure_dataset(tmp_path_factory.mktemp("bench-data"), 800, seed=7)
    return dataset


@pytest.fixture(scope="session")
def python_result(small_dataset, tmp_path_factory) -> dict:
    """The pure Python contender's outputs on the small dataset (the usual reference)."""
    out = tmp_path_factory.mktemp("bench-python")
    return run_in_process("python", "ndjson", small_dataset.path("ndjson"), out)
