"""One log setup for every component: a line per record, JSON by default.

Every line has ``timestamp`` (UTC, ISO 8601), ``level``, ``component``, ``logger``
and ``message``; then ``job_id``, ``snapshot_id`` and ``run_id`` when the record
knows them (``extra=`` of the logging call, or the Dagster run it was logged in);
then the other ``extra=`` fields; and for an error with an exception, ``error``:
its ``type``, ``message`` and ``traceback``.

``component`` says which part of eventlake wrote the line: ``api``, ``consumer``,
``dagster`` (a run's steps: assets and checks), ``sensors``, ``airflow_bridge``,
``demo``. It is, first found: the Dagster run the record was logged in, the
logger's name (``COMPONENTS``: ``eventlake.consumer`` -> ``consumer``), the
component the process configured, and the logger's second part
(``eventlake.lake`` -> ``lake``) or first (``httpx``). A record's own
``component`` field (the API names the backend that failed so: ``job_store``,
``stream``, ``dagster``) is written as ``failed_component``.

Where it is set up:

* ``eventlake <command>`` (``eventlake.cli``): ``configure`` on the root logger;
* the API: ``api.logs.log_config``, uvicorn's config, in every worker;
* Dagster runs: the instance's ``python_logs`` section (``dagster_python_logs``,
  in ``eventlake.runs.instance_config``): the ``eventlake`` loggers are managed
  by Dagster (their lines also reach the run's event log), and every run event
  that says what a step did (run and step starts and outcomes, retries,
  materializations, check results) and every line logged in a step go to stderr
  as JSON with ``run_id``, ``job_name`` and ``step_key``;
* sensors: ``log_errors``, which also sets this up (``ensure_configured``) in
  the code server that evaluates them;
* the Airflow bridge: ``attach`` on its logger (Airflow owns the task process's
  logging; the lines also reach Airflow's task log).

``EVENTLAKE_LOG_FORMAT=text`` writes the same fields as one readable line.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

#: The component of a logger (and of the loggers under it), by name.
COMPONENTS: Mapping[str, str] = {
    "eventlake.api": "api",
    "uvicorn": "api",
    "eventlake.consumer": "consumer",
    "eventlake.committer": "consumer",
    "eventlake.leases": "consumer",
    "eventlake.dedup_index": "consumer",
    "eventlake.sensors": "sensors",
    "eventlake.alerts": "sensors",
    "eventlake.airflow_bridge": "airflow_bridge",
    "eventlake.demo": "demo",
}

#: The ids that come first on a line, after the message, when a record has them.
IDS = ("job_id", "snapshot_id", "run_id")

#: Dagster run events that say what a run's steps did (Dagster logs most of them at DEBUG).
DAGSTER_RUN_EVENTS = frozenset({
    "RUN_START", "RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED",
    "STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY", "STEP_RESTARTED",
    "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION",
})  # fmt: skip

# Dagster warns at every run and step that the dagster.yaml's python_logs handlers are a beta feature
# (Dagster 1.13): in a run worker, where the code location imports this module, that is noise.
warnings.filterwarnings("ignore", message="Handling yaml-defined logging configuration")

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# Dagster's own attributes of a record (its event objects are not JSON): read by _dagster_fields
_DAGSTER_ATTRS = frozenset({"dagster_meta", "dagster_event", "dagster_event_batch_metadata"})
_OURS = "_eventlake_handler"


@functools.lru_cache(maxsize=1024)
def component_of(logger_name: str, default: str | None = None) -> str:
    """A logger's component: ``COMPONENTS`` (longest prefix), else ``default``, else its name's second part."""
    name = logger_name
    while name:
        if name in COMPONENTS:
            return COMPONENTS[name]
        name = name.rpartition(".")[0]
    if default:
        return default
    parts = logger_name.split(".")
    return parts[1] if parts[0] == "eventlake" and len(parts) > 1 else parts[0] or "root"


def _dagster_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What a record logged in a Dagster run or evaluation says about it: run, job, step, event, error."""
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, Mapping):
        return {}
    fields: dict[str, Any] = {
        "run_id": meta.get("run_id"),
        "job_name": meta.get("job_name"),
        "step_key": meta.get("step_key"),
    }
    event = meta.get("dagster_event") or getattr(record, "dagster_event", None)
    if event is not None:
        fields["event"] = _event_name(event)
        data = getattr(event, "event_specific_data", None)
        try:
            if fields["event"] == "ASSET_CHECK_EVALUATION":  # which check, and how it came out
                fields["asset"] = data.asset_key.to_user_string()
                fields.update(check=data.check_name, passed=data.passed, severity=data.severity.value)
            elif fields["event"] == "ASSET_MATERIALIZATION":
                fields["asset"] = event.asset_key.to_user_string()
        except AttributeError:  # another Dagster version's event data: the line goes out without these
            pass
        error = getattr(data, "error", None)
        if error is not None:
            fields["error"] = _error_info(error)
    return {k: v for k, v in fields.items() if v is not None}


def _event_name(event: Any) -> str | None:
    """A Dagster event's type by its current name (``RUN_START``; its value is still ``PIPELINE_START``)."""
    event_type = getattr(event, "event_type", None)
    return getattr(event_type, "name", None) or getattr(event, "event_type_value", None)


def _error_info(error: Any) -> dict[str, str]:
    """A Dagster ``SerializableErrorInfo`` as ``type``, ``message``, ``traceback``: the type and message
    of the exception the step's code raised (the innermost cause: Dagster wraps it in its own
    ``DagsterExecutionStepExecutionError``), the traceback of the whole chain."""
    root = error
    while getattr(root, "cause", None) is not None:
        root = root.cause
    message = (root.message or "").strip()
    prefix = f"{root.cls_name}: " if root.cls_name else ""
    if prefix and message.startswith(prefix):
        message = message[len(prefix):]
    return {"type": root.cls_name or "", "message": message, "traceback": error.to_string().rstrip()}


_SKIPPED = _STANDARD_ATTRS | _DAGSTER_ATTRS | frozenset(IDS) | {"component"}


def record_fields(record: logging.LogRecord, component: str | None = None) -> dict[str, Any]:
    """The fields of one line, in order (see the module's docstring)."""
    attrs = record.__dict__
    meta = attrs.get("dagster_meta")
    dagster = _dagster_fields(record) if meta is not None else {}
    if isinstance(meta, Mapping) and "orig_message" in meta:
        message = meta["orig_message"]
    else:
        message = record.getMessage()
    fields: dict[str, Any] = {
        "timestamp": _timestamp(record.created),
        "level": record.levelname,
        "component": "dagster" if dagster.get("run_id") else component_of(record.name, component),
        "logger": record.name,
        "message": message,
    }
    for key in IDS:
        value = attrs.get(key)
        if value is None:
            value = dagster.get(key)
        if value is not None:
            fields[key] = value
    if attrs.get("component") is not None:  # the API's lines name the backend that failed so (job_store, stream)
        fields["failed_component"] = attrs["component"]
    for key, value in attrs.items():
        if key not in _SKIPPED:
            fields[key] = value
    for key, value in dagster.items():
        if key not in fields:
            fields[key] = value
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        fields["error"] = {
            "type": type(exc).__qualname__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(*record.exc_info)).rstrip(),
        }
    if record.stack_info:
        fields["stack"] = record.stack_info
    return fields


_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """``created`` as ISO 8601 in UTC to the millisecond; the part up to the second is kept from the
    last call (a line per request: ``datetime.isoformat`` was a third of a line's cost)."""
    global _second
    whole = int(created)
    second, prefix = _second
    if whole != second:
        prefix = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (whole, prefix)
    return f"{prefix}.{int((created - whole) * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object (``record_fields``); ``component`` is the process's default component."""

    def __init__(self, component: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        payload = record_fields(record, self.component)
        try:  # orjson: the API writes a line per request, so the formatter's cost counts
            return orjson.dumps(payload, default=str).decode("utf-8")
        except TypeError:  # e.g. non-string keys, or integers past 64 bits
            return json.dumps(payload, default=str)


class TextFormatter(JsonFormatter):
    """The same fields on one line for a person: ``<timestamp> <LEVEL> <component> <logger>: <message> k=v ...``,
    then the traceback of an error."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record, self.component)
        error = fields.pop("error", None)
        head = [fields.pop(k) for k in ("timestamp", "level", "component")]
        logger, message = fields.pop("logger"), fields.pop("message")
        line = f"{' '.join(head)} {logger}: {message}" + "".join(f" {k}={v}" for k, v in fields.items())
        if error:
            line += f" error={error['type']}: {error['message']}\n{error['traceback']}"
        return line


def formatter(component: str | None = None, fmt: str | None = None, **_: Any) -> logging.Formatter:
    """The formatter of ``fmt`` (``json`` or ``text``), by default the setting ``EVENTLAKE_LOG_FORMAT``.

    Other keywords are ignored: uvicorn passes ``use_colors`` to the formatters of its config.
    """
    if fmt is None:
        try:
            from eventlake.settings import get_settings

            fmt = get_settings().log_format
        except Exception:  # noqa: BLE001 - a bad setting is reported by the command that reads it; log anyway
            fmt = "json"
    return TextFormatter(component) if fmt == "text" else JsonFormatter(component)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (as ``logging.lastResort`` does), so a
    handler made before stderr is redirected (a test's capture, a daemon) still follows it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ sets it
        pass


def _new_handler(component: str | None, fmt: str | None) -> logging.Handler:
    handler = StderrHandler()
    handler.setFormatter(formatter(component, fmt))
    setattr(handler, _OURS, True)
    return handler


def configure(level: int | str = logging.INFO, *, component: str | None = None, fmt: str | None = None,
              logger: str = "", unless_handled: bool = False) -> logging.Handler | None:
    """Log every record of ``logger`` (the root logger by default) to stderr as this module's lines.

    Replaces a handler an earlier call installed, and leaves the others (a test's capture) alone.
    Returns the handler. ``unless_handled``: do nothing when ``logger`` already has a handler of
    someone else, as ``logging.basicConfig`` does (a command run by a test whose capture is on).
    """
    target = logging.getLogger(logger)
    if unless_handled and any(not getattr(h, _OURS, False) for h in target.handlers):
        return None
    for handler in [h for h in target.handlers if getattr(h, _OURS, False)]:
        target.removeHandler(handler)
    handler = _new_handler(component, fmt)
    target.addHandler(handler)
    target.setLevel(level)
    return handler


def set_component(component: str, logger: str = "") -> None:
    """Name the process's component on the lines of the handlers ``configure`` installed on ``logger``
    (a command that knows what it runs: ``eventlake consume`` -> ``consumer``)."""
    for handler in logging.getLogger(logger).handlers:
        if getattr(handler, _OURS, False) and isinstance(handler.formatter, JsonFormatter):
            handler.formatter.component = component


def configured(logger: str = "") -> bool:
    """Whether ``logger`` or one it propagates to has a handler of this module."""
    current: logging.Logger | None = logging.getLogger(logger)
    while current is not None:
        if any(getattr(h, _OURS, False) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def ensure_configured(component: str | None = None, level: int | str = logging.INFO) -> None:
    """``configure`` the root logger unless a handler of this module already writes eventlake's lines."""
    if not configured("eventlake"):
        configure(level, component=component)


def attach(logger: logging.Logger, component: str | None = None, fmt: str | None = None) -> None:
    """Give ``logger`` its own handler of this module, unless one already writes its lines.

    For a process whose logging belongs to someone else (an Airflow task): the logger keeps
    propagating to their handlers, and its lines also go to stderr in this module's format.
    """
    if not configured(logger.name):
        logger.addHandler(_new_handler(component, fmt))
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)


F = TypeVar("F", bound=Callable[..., Any])


def log_errors(logger_name: str, what: str | None = None, **fields: Any) -> Callable[[F], F]:
    """Decorate a function (a sensor's evaluation) so that an exception leaving it is logged on
    ``logger_name`` at ERROR, with its type, message and traceback and ``fields``, then raised again.

    Sets up this module's lines first (``ensure_configured``): a Dagster code server, which
    evaluates sensors, has no log setup of its own for eventlake's loggers.
    """

    def decorate(fn: F) -> F:
        name = what or fn.__name__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # the process's other eventlake lines (the catalog's, ...) are this component's too
            ensure_configured(component_of(logger_name))
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                logging.getLogger(logger_name).error("%s failed: %s: %s", name, type(exc).__name__, exc,
                                                     exc_info=True, extra=fields)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


class DagsterRunLines(logging.Filter):
    """Of the records of a Dagster run, the lines worth a log: those at INFO or above, and the run
    events that say what the run's steps did (``DAGSTER_RUN_EVENTS``: starts, outcomes, retries,
    materializations, check results), whatever their level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, Mapping) else None
        return event is not None and _event_name(event) in DAGSTER_RUN_EVENTS


def dagster_python_logs(managed: Iterable[str] = ("eventlake",), level: str = "INFO") -> dict[str, Any]:
    """The ``python_logs`` section of a Dagster instance's dagster.yaml.

    The ``managed`` loggers' records in a run reach the run's event log (Dagster's UI) and, with
    Dagster's run events, a handler that writes them to the run worker's stderr in this
    module's format, with ``run_id``, ``job_name`` and ``step_key``.
    """
    return {
        "managed_python_loggers": list(managed),
        "python_log_level": level,
        "dagster_handler_config": {
            "handlers": {
                "eventlake": {
                    "class": f"{__name__}.StderrHandler",
                    "formatter": "eventlake",
                    "filters": ["eventlake_run_lines"],
                },
            },
            "formatters": {"eventlake": {"()": f"{__name__}.formatter", "component": "dagster"}},
            "filters": {"eventlake_run_lines": {"()": f"{__name__}.DagsterRunLines"}},
        },
    }
