"""Helpers for the log tests: read a component's stderr as eventlake's JSON lines (``eventlake.logs``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a stream (other lines, a library's plain output, are skipped).

    A line that starts like one of ours (``{"timestamp"``) must parse: a broken line fails the test.
    """
    lines = []
    for line in text.splitlines():
        if line.startswith('{"timestamp"'):
            lines.append(json.loads(line))
    return lines


def error_lines(lines: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["level"] == "ERROR" and line["component"] == component]


def assert_error_line(line: dict[str, Any], component: str, *, error_type: str | None = None) -> None:
    """Property 38: an error line has a timestamp, the component, the message and the exception's details."""
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.tzinfo is not None and abs(datetime.now(UTC) - stamp) < timedelta(minutes=10), line["timestamp"]
    assert line["level"] == "ERROR"
    assert line["component"] == component
    assert line["message"].strip()
    if error_type is not None:
        error = line["error"]
        assert error["type"] == error_type, error
        assert error["message"].strip()
        assert "Traceback" in error["traceback"] or "Stack Trace" in error["traceback"], error["traceback"][:500]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root and eventlake loggers back as they were (a test that sets logging up must not leak it)."""
    loggers = [logging.getLogger(name) for name in ("", "eventlake", "eventlake.sensors", "eventlake.airflow_bridge")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.fixture(autouse=True)
def no_log_handlers_left_by_earlier_tests() -> Iterator[None]:
    """Start each log test without the handlers of ``eventlake.logs`` that earlier tests in the same
    pytest process installed (a sensor's ``log_errors``, a CLI run in-process): each would write every
    line once more. Put back afterwards."""
    from eventlake.logs import _OURS, StderrHandler

    def ours(handler: logging.Handler) -> bool:  # configure()/attach() mark theirs; Dagster's python_logs builds one
        return getattr(handler, _OURS, False) or isinstance(handler, StderrHandler)

    loggers = [logging.getLogger()] + [
        lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)
    ]
    saved = {lg: list(lg.handlers) for lg in loggers if any(ours(h) for h in lg.handlers)}
    for lg in saved:
        lg.handlers[:] = [h for h in lg.handlers if not ours(h)]
    yield
    for lg, handlers in saved.items():
        lg.handlers[:] = handlers
