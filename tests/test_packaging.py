"""`platform/` is the package `eventlake` and must never shadow the stdlib `platform`."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_stdlib_platform_is_not_shadowed_from_repo_root():
    # Dagster and pytest put the repo root first on sys.path; `import platform`
    # must still be the standard library module.
    out = subprocess.run(
        [sys.executable, "-c", "import platform, sys; print(platform.system()); print(platform.__file__)"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert out[0] in {"Linux", "Darwin", "Windows"}
    assert not out[1].startswith(str(REPO_ROOT))


def test_eventlake_imports_from_the_platform_folder():
    out = subprocess.run(
        [sys.executable, "-c", "import eventlake, eventlake.settings as s; print(list(eventlake.__path__)[0]); print(s.__file__)"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert out[0] == str(REPO_ROOT / "platform")
    assert out[1] == str(REPO_ROOT / "platform" / "settings.py")


def test_no_platform_init():
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()


def test_console_script_help_lists_the_subcommands():
    exe = REPO_ROOT / ".venv" / "bin" / "eventlake"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "api", "consume", "generate", "bench"):
        assert command in out
