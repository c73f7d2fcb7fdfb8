"""`eventlake` as a person meets it: every option explained, one-line errors, job ids from `generate --post`.

Every test runs the installed entry point (.venv/bin/eventlake) in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from tests.conftest import free_port, wait_for_http

EVENTLAKE = str(Path(sys.executable).parent / "eventlake")
#: every command and subcommand with options of its own (`bench processor` has none: it only says where it went)
COMMANDS = ["", "demo", "api", "consume", "generate", "settings", "bench", "bench ingest", "bench pipeline",
            "table", "table history", "table show", "table as-of", "table rollback"]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The process environment without any EVENTLAKE_* variable of the caller, with ``home`` as EVENTLAKE_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EVENTLAKE_")}
    env.update(EVENTLAKE_HOME=str(home), **extra)
    return env


def run_cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([EVENTLAKE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def options_without_help(help_text: str) -> list[str]:
    """The option entries of an argparse help text that have no help text.

    An entry is a line starting with two spaces and a dash under "options:"; its help is
    the text after the invocation on the same line, or the more indented line below.
    """
    lines = help_text.splitlines()
    missing = []
    in_options = False
    for i, line in enumerate(lines):
        if line.endswith(":") and not line.startswith(" "):
            in_options = line == "options:"
            continue
        if not in_options or not re.match(r"^  -", line):
            continue
        invocation, _, help_part = line.strip().partition("  ")
        if help_part.strip():
            continue
        below = lines[i + 1] if i + 1 < len(lines) else ""
        indent = len(below) - len(below.lstrip())
        if not below.strip() or indent <= 2 or below.lstrip().startswith("-"):
            missing.append(invocation)
    return missing


def test_the_help_checker_finds_an_option_without_help():
    text = ("usage: x\n\noptions:\n  -h, --help  show this help\n  --seed SEED\n  --events N  events\n"
            "  --duplicate-rate SHARE\n                        share sent twice\n  --bare\n")
    assert options_without_help(text) == ["--seed SEED", "--bare"]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "eventlake")
def test_every_option_has_help_text(command, tmp_path):
    result = run_cli(*command.split(), "--help", env=clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "options:" in result.stdout
    assert options_without_help(result.stdout) == []
    # the command says what it does: a description beyond the usage line (or the list of commands)
    head = result.stdout.split("options:")[0]
    assert len(re.sub(r"usage:.*?\n\n", "", head, count=1, flags=re.S).split()) >= 8, result.stdout


@pytest.mark.parametrize("command", ["demo", "generate", "bench ingest"])
def test_main_commands_show_an_example(command, tmp_path):
    result = run_cli(*command.split(), "--help", env=clean_env(tmp_path), cwd=tmp_path)
    assert re.search(rf"^\s+eventlake {command}\b", result.stdout, re.M), result.stdout


def test_generate_post_without_a_key_is_one_line_and_exit_2(tmp_path):
    home = tmp_path / "home"  # no api_key file, no EVENTLAKE_API_KEYS
    result = run_cli("generate", "--post", "http://127.0.0.1:9", "--events", "10", env=clean_env(home), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    # it names every way to give a key
    assert "--api-key" in lines[0] and "EVENTLAKE_API_KEYS" in lines[0] and str(home / "api_key") in lines[0]


def test_generate_post_to_something_not_a_url_is_one_line_and_exit_2(tmp_path):
    result = run_cli("generate", "--post", "localhost:8000", "--api-key", "k", env=clean_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: --post wants the API's base URL, e.g. http://127.0.0.1:8000 (got 'localhost:8000')"]


def test_generate_post_to_no_server_is_one_line(tmp_path):
    result = run_cli("generate", "--post", f"http://127.0.0.1:{free_port()}", "--api-key", "k", "--events", "10",
                     env=clean_env(tmp_path / "home"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: could not POST")


def test_settings_shows_where_the_key_lives_never_the_key(tmp_path):
    home = tmp_path / "home"
    env = clean_env(home, EVENTLAKE_JOB_DB_URL="postgresql+psycopg://app:pg-secret@db:5432/jobs",
                    EVENTLAKE_SNOWFLAKE_PASSWORD="sf-secret")
    missing = run_cli("settings", env=env, cwd=tmp_path)
    assert missing.returncode == 0, missing.stderr
    assert f"{home / 'api_key'} (missing" in missing.stdout

    home.mkdir()
    (home / "api_key").write_text("el_the-demo-key\n")
    shown = run_cli("settings", env={**env, "EVENTLAKE_API_KEYS": "env-key-1,env-key-2"}, cwd=tmp_path)
    assert f"{home / 'api_key'} (exists" in shown.stdout
    for secret in ("el_the-demo-key", "env-key-1", "env-key-2", "pg-secret", "sf-secret"):
        assert secret not in shown.stdout
    assert "postgresql+psycopg://app:****@db:5432/jobs" in shown.stdout

    asked = run_cli("settings", "--show-secrets", env={**env, "EVENTLAKE_API_KEYS": "env-key-1,env-key-2"}, cwd=tmp_path)
    for secret in ("el_the-demo-key", "env-key-1", "pg-secret", "sf-secret"):
        assert secret in asked.stdout


@pytest.fixture
def api_server(tmp_path):
    """`eventlake api` in a subprocess on a free port, with its own EVENTLAKE_HOME and key."""
    home = tmp_path / "server-home"
    port = free_port()
    env = clean_env(home, EVENTLAKE_API_KEYS="server-key", EVENTLAKE_DAGSTER_URL=f"http://127.0.0.1:{free_port()}")
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen([EVENTLAKE, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/v1/metrics", proc, (tmp_path / "api.log").read_text)
        yield url, Settings(home=home)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_generate_post_prints_the_job_ids_and_a_status_command(api_server, tmp_path):
    url, server_settings = api_server
    client_home = tmp_path / "client-home"
    client_home.mkdir()
    (client_home / "api_key").write_text("server-key\n")  # as `eventlake demo` leaves it
    result = run_cli("generate", "--post", url, "--events", "1500", "--users", "20", "--products", "5",
                     env=clean_env(client_home), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "HTTP Request" not in result.stdout + result.stderr  # no httpx INFO lines

    job_ids = re.findall(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s+(\w+)\s+(\d+)$",
                         result.stdout, re.M)
    # users (JSON), products (CSV), events in two NDJSON batches
    assert [dataset for _, dataset, _ in job_ids] == ["users", "products", "events", "events"]
    store = IngestionJobStore(server_settings.job_db)
    try:
        for job_id, dataset, records in job_ids:
            job = store.get(job_id)
            assert job is not None, job_id
            assert job.record_count == int(records)
    finally:
        store.close()

    # the status command works as printed: the key comes from the file, not from the screen
    command = next(line.strip() for line in result.stdout.splitlines() if line.strip().startswith("curl "))
    assert "server-key" not in result.stdout
    assert f"$(cat {client_home / 'api_key'})" in command
    status = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert json.loads(status.stdout)["job_id"] == job_ids[-1][0]
