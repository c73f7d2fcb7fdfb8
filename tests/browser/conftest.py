"""One real demo stack and one headless Chromium for every browser test.

``demo_stack`` runs ``eventlake demo`` (API, consumer, Dagster webserver and
daemon, Streamlit dashboard) once for tests/browser in a subprocess (package scope:
it stops after the last browser test instead of idling through the rest of the
suite, about 8% of a core), with a fresh
EVENTLAKE_HOME, free ports and a small sample, and waits by polling the stack
itself: the API's health, every ingestion job COMPLETED in the job store, and a
``transform_job`` run that started after the last raw commit ended SUCCESS in
Dagster. At the end it stops the demo's process group with SIGINT (the demo
stops its components), then SIGKILL after a timeout.

The browser is Debian's ``chromium`` (``EVENTLAKE_CHROMIUM`` overrides the
path), driven by Playwright; no browser is ever downloaded. Without one the
tests are skipped with the reason.

Screenshots go to ``$EVENTLAKE_ARTIFACTS/browser`` (default
``test-artifacts/browser`` in the repository, git-ignored); their paths are
listed at the end of the run. When a test or the stack fails, the end of each
component's log (``$EVENTLAKE_HOME/logs``) is printed.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import REPO_ROOT, free_port

# the sample the demo POSTs (`eventlake demo --events ...`): small, and still with invalid records and duplicates
EVENTS, USERS, PRODUCTS = 1_000, 50, 20
API_KEY = "browser-test-key"
STACK_TIMEOUT_S = 420
STOP_TIMEOUT_S = 45
LOG_TAIL_LINES = 40
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# how long a page may take to show what a test waits for: generous, the machine runs the whole stack
UI_TIMEOUT_MS = 90_000
NO_PLAYWRIGHT = "no browser: the playwright package is not installed (uv sync installs it with the dev group)"

_failed_tests: list[str] = []
_screenshots: list[Path] = []
_stack_logs: list[str] = []  # written in the terminal summary: pytest drops the output of a teardown that passed


def chromium_path() -> tuple[str | None, str]:
    """(the Chromium binary to drive, None when there is none; where it was looked for)."""
    chosen = os.environ.get("EVENTLAKE_CHROMIUM")
    if chosen:
        return (chosen if os.access(chosen, os.X_OK) else None), f"EVENTLAKE_CHROMIUM={chosen}"
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate, candidate
    return None, "/usr/bin/chromium, chromium and chromium-browser on PATH"


def artifacts_dir() -> Path:
    """Where the screenshots go; the first call of a run removes the previous run's."""
    root = os.environ.get("EVENTLAKE_ARTIFACTS")
    directory = Path(root) / "browser" if root else REPO_ROOT / "test-artifacts" / "browser"
    directory.mkdir(parents=True, exist_ok=True)
    if not _screenshots:
        for old in directory.glob("*.png"):
            old.unlink()
    return directory


def save_screenshot(page, name: str) -> Path:
    """A full-page screenshot of ``page`` as ``<artifacts>/<name>.png``; its path is printed."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    _screenshots.append(path)
    print(f"screenshot: {path}")
    return path


def external_hosts_blocked(context) -> list[tuple[str, str]]:
    """Abort every request of ``context`` that leaves the machine, as on a host without internet;
    the list returned fills with the (resource type, URL) of each request aborted."""
    blocked: list[tuple[str, str]] = []

    def route(route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append((route.request.resource_type, route.request.url))
            route.abort("internetdisconnected")

    context.route("**/*", route)
    return blocked


# -- the stack ------------------------------------------------------------------
@dataclass
class DemoStack:
    home: Path
    output: Path
    api_url: str
    dagster_url: str
    dashboard_url: str
    api_key: str
    expected_jobs: int
    process: subprocess.Popen | None = None
    transform_run_id: str | None = None
    jobs: list = field(default_factory=list)  # the ingestion jobs (eventlake.state.ingestion_jobs.Job), once ready

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def logs(self, header: str) -> str:
        """The demo's output and the end of each component's log, under ``header``."""
        out = [f"===== {header}: the demo's output and the end of each component's log ====="]
        for path in [self.output, *sorted(self.log_dir.glob("*.log"))]:
            if not path.exists():
                continue
            lines = path.read_text(errors="replace").splitlines()
            out.append(f"----- {path} (last {min(len(lines), LOG_TAIL_LINES)} of {len(lines)} lines) -----")
            out.extend(lines[-LOG_TAIL_LINES:])
        return "\n".join(out)


_TRANSFORM_RUNS = """
query { runsOrError(filter: {pipelineName: "transform_job"}) {
  __typename ... on Runs { results { runId status startTime } } ... on PythonError { message } } }
"""


def _transform_runs(dagster_url: str) -> list[dict]:
    resp = httpx.post(f"{dagster_url}/graphql", json={"query": _TRANSFORM_RUNS}, timeout=10)
    resp.raise_for_status()
    data = resp.json()["data"]["runsOrError"]
    if data["__typename"] != "Runs":
        raise RuntimeError(f"Dagster could not list the transform_job runs: {data.get('message')}")
    return data["results"]


class _NotReady(Exception):
    """The stack is still working towards the state the tests need (the message says what it waits for)."""


def expected_jobs() -> int:
    """How many ingestion jobs the demo creates: one for the users, one for the products, one per
    batch of events (the sample is deterministic: its size does not depend on the time)."""
    import inspect

    from eventlake.demo import post_sample_data
    from eventlake.generate import generate

    batch = inspect.signature(post_sample_data).parameters["batch_size"].default
    return 2 + math.ceil(len(generate(events=EVENTS, users=USERS, products=PRODUCTS).events) / batch)


def _ready(stack: DemoStack) -> str:
    """The transform_job run that read everything the demo POSTed, once it succeeded; raises
    ``_NotReady`` saying what is missing, or AssertionError when a stage failed for good."""
    from eventlake.demo import last_data_commit
    from eventlake.resources.core import EventlakeResource
    from eventlake.settings import Settings
    from eventlake.state.ingestion_jobs import IngestionJobStore

    try:
        health = httpx.get(f"{stack.api_url}/api/v1/health", headers={"X-API-Key": stack.api_key}, timeout=5)
    except httpx.HTTPError as exc:
        raise _NotReady(f"API health: {exc!r}") from None
    if health.status_code != 200:
        raise _NotReady(f"API health answered {health.status_code}")

    settings = Settings(home=stack.home)
    if not Path(settings.job_db.removeprefix("sqlite:///")).exists():
        raise _NotReady("no job database yet")
    store = IngestionJobStore(settings.job_db)
    try:
        jobs = store.list_jobs(limit=1_000)
    finally:
        store.close()
    expected = stack.expected_jobs
    failed = [j for j in jobs if str(j.status) == "FAILED"]
    assert not failed, f"ingestion job {failed[0].job_id} FAILED: {failed[0].error_message}"
    completed = sum(str(j.status) == "COMPLETED" for j in jobs)
    if len(jobs) < expected or completed < len(jobs):
        raise _NotReady(f"ingestion jobs: {completed} of {expected} COMPLETED")
    stack.jobs = jobs

    committed_at = last_data_commit(EventlakeResource(home=str(stack.home)).tables())
    if committed_at is None:
        raise _NotReady("every job COMPLETED but no raw snapshot yet")
    try:
        runs = _transform_runs(stack.dagster_url)
    except httpx.HTTPError as exc:
        raise _NotReady(f"Dagster GraphQL: {exc!r}") from None
    after = sorted((r for r in runs if r["startTime"] is not None and r["startTime"] >= committed_at),
                   key=lambda r: r["startTime"])
    if not after:
        raise _NotReady(f"a transform_job run started after the last raw commit ({len(runs)} runs so far)")
    run = after[0]
    assert run["status"] not in ("FAILURE", "CANCELED"), \
        f"transform_job run {run['runId']} ended {run['status']}: {stack.dagster_url}/runs/{run['runId']}"
    if run["status"] != "SUCCESS":
        raise _NotReady(f"transform_job run {run['runId'][:8]} is {run['status']}")
    return run["runId"]


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) of every live process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            out[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return out


def _stack_sessions(pid: int) -> set[int]:
    """The sessions of ``pid`` and its descendants: the demo's own and one per component
    (the demo starts each in a session of its own), never this test process's."""
    processes = _processes()
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _) in processes.items() if ppid == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return {processes[p][1] for p in tree if p in processes} - {os.getsid(0)}


def _alive_in(sessions: set[int]) -> list[int]:
    return [pid for pid, (_, sid) in _processes().items() if sid in sessions]


def _stop(stack: DemoStack) -> None:
    """SIGINT to the demo's process group (it stops its components), SIGKILL to whatever is left after a timeout."""
    proc = stack.process
    if proc is None:
        return
    sessions = _stack_sessions(proc.pid)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"the demo did not stop within {STOP_TIMEOUT_S}s of SIGINT: SIGKILL", file=sys.stderr)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive_in(sessions) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _alive_in(sessions):  # a component (or a child of one) that outlived the demo
        print(f"process {pid} outlived the demo: SIGKILL", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="package")
def chromium() -> str:
    """The path of a Chromium binary Playwright can drive; skips the test when there is none."""
    pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
    path, looked_at = chromium_path()
    if path is None:
        pytest.skip(f"no browser: no executable chromium at {looked_at} (apt-get install chromium, "
                    "or set EVENTLAKE_CHROMIUM)")
    return path


@pytest.fixture(scope="package")
def browser(chromium):
    from playwright.sync_api import Error, expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        except Error as exc:
            pytest.skip(f"no browser: {chromium} does not start under Playwright: {exc.message.splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context and page; on failure, a screenshot named after the test."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, timezone_id="UTC", locale="en-US")
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        save_screenshot(page, f"FAILED-{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}")
    context.close()


@pytest.fixture(scope="package")
def demo_stack(browser, tmp_path_factory) -> Iterator[DemoStack]:  # noqa: ARG001 (no stack without a browser)
    root = tmp_path_factory.mktemp("browser-demo")
    host = "127.0.0.1"
    ports = {"API": free_port(), "DAGSTER": free_port(), "DASHBOARD": free_port()}
    stack = DemoStack(home=root / "home", output=root / "demo.out", api_url=f"http://{host}:{ports['API']}",
                      dagster_url=f"http://{host}:{ports['DAGSTER']}",
                      dashboard_url=f"http://{host}:{ports['DASHBOARD']}", api_key=API_KEY,
                      expected_jobs=expected_jobs())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_") and k != "DAGSTER_HOME"}
    env.update({f"EVENTLAKE_{name}_PORT": str(port) for name, port in ports.items()})
    env.update(EVENTLAKE_HOME=str(stack.home), EVENTLAKE_API_HOST=host, EVENTLAKE_API_KEYS=API_KEY,
               EVENTLAKE_API_WORKERS="1", PYTHONUNBUFFERED="1")
    eventlake = Path(sys.executable).parent / "eventlake"
    cmd = [str(eventlake) if eventlake.exists() else "eventlake", "demo", "--events", str(EVENTS),
           "--users", str(USERS), "--products", str(PRODUCTS), "--timeout", str(STACK_TIMEOUT_S)]
    started = time.monotonic()
    with stack.output.open("wb") as out:
        stack.process = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
    print(f"\n{' '.join(cmd)}  (EVENTLAKE_HOME={stack.home}, output {stack.output})")
    try:
        waiting = "the demo to start"
        while True:
            code = stack.process.poll()
            assert code is None, f"eventlake demo exited with code {code} while waiting for {waiting}"
            assert time.monotonic() - started < STACK_TIMEOUT_S, \
                f"the stack was not ready within {STACK_TIMEOUT_S}s; still waiting for {waiting}"
            try:
                stack.transform_run_id = _ready(stack)
                break
            except _NotReady as wait:
                waiting = str(wait)
            time.sleep(2)
    except BaseException as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        _stack_logs.append(stack.logs(f"the demo stack did not come up ({reason})"))
        _stop(stack)
        raise
    print(f"stack ready in {time.monotonic() - started:.0f}s: API {stack.api_url}, Dagster {stack.dagster_url}, "
          f"dashboard {stack.dashboard_url}, transform_job run {stack.transform_run_id}")
    yield stack
    if _failed_tests:
        _stack_logs.append(stack.logs(f"{len(_failed_tests)} browser test(s) failed"))
    _stop(stack)


# -- hooks ----------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    if report.failed and "tests/browser/" in item.nodeid:
        _failed_tests.append(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    for logs in _stack_logs:
        terminalreporter.write_sep("-", "browser tests: the demo stack's logs")
        terminalreporter.write_line(logs)
    if _screenshots:
        terminalreporter.write_sep("-", "browser test screenshots")
        for path in _screenshots:
            terminalreporter.write_line(str(path))
