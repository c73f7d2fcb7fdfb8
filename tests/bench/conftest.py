"""What the load generator smoke tests share: how to run `eventlake`, its environment, the result checks."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _eventlake() -> list[str]:
    script = Path(sys.executable).parent / "eventlake"
    return [str(script)] if script.exists() else [sys.executable, "-m", "eventlake.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env["EVENTLAKE_HOME"] = str(tmp_path / "home")
    return env


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def run_bench(tmp_path: Path, name: str, args: list[str], timeout: float, stdout_tail: int = 4000):
    """`eventlake bench <name> <args> --out <tmp>/bench`, passed, with its JSON and PNG: (out, results, done)."""
    out = tmp_path / "bench"
    cmd = [*_eventlake(), "bench", name, *args, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-stdout_tail:] + done.stderr[-4000:]
    results = json.loads((out / f"{name}-latest.json").read_text())
    png = (out / f"{name}-latest.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    assert list(out.glob(f"{name}-2*.json")) and list(out.glob(f"{name}-2*.png"))
    assert results["status"] == "passed" and results["failures"] == []
    return out, results, done
