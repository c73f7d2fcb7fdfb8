"""Importing eventlake's entry points does no work (issue 8, "Nothing at import time").

Each module is imported in a fresh interpreter: afterwards neither Great
Expectations, dbt nor polars is loaded, the environment is unchanged and no
subprocess was started. dagster-dbt imports dbt, so the code location builds
its definitions (and parses the dbt project when needed) on first access of
``defs``, not on import. No timing is asserted: the absence of the modules is
what keeps ``eventlake --help`` and the API's start fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("great_expectations", "dbt", "polars")

# Runs in the child. dagster is imported first, outside the watch: its own import
# starts `file -b <python>` (platform.architecture() in its vendored croniter).
CHILD = r"""
import importlib, json, os, subprocess, sys

import dagster  # noqa: F401

environ_before = dict(os.environ)
started = []
_popen_init = subprocess.Popen.__init__


def _watch(self, *args, **kwargs):
    started.append(repr(args[0] if args else kwargs.get("args")))
    return _popen_init(self, *args, **kwargs)


subprocess.Popen.__init__ = _watch
os.system = lambda command: started.append(repr(command)) or 0

importlib.import_module(sys.argv[1])

environ_after = dict(os.environ)
print(json.dumps({
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(",")),
    "environ_changed": sorted(k for k in environ_before.keys() | environ_after.keys()
                              if environ_before.get(k) != environ_after.get(k)),
    "subprocesses": started,
}))
"""


def _import_in_fresh_interpreter(module: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, module, ",".join(HEAVY)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["api.main", "eventlake.definitions", "eventlake.cli"])
def test_import_loads_no_heavy_module_writes_no_environment_starts_no_process(module: str) -> None:
    seen = _import_in_fresh_interpreter(module)
    assert seen["heavy"] == [], f"importing {module} loaded {seen['heavy'][:10]}"
    assert seen["environ_changed"] == [], f"importing {module} changed os.environ: {seen['environ_changed']}"
    assert seen["subprocesses"] == [], f"importing {module} started {seen['subprocesses']}"


def test_eventlake_help_exits_0() -> None:
    script = Path(sys.executable).parent / "eventlake"
    assert script.exists(), f"no console script at {script} (the venv is not set up)"
    done = subprocess.run([str(script), "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "usage" in done.stdout.lower()
