"""Named fault points, so tests and ``eventlake bench ingest --chaos`` can break the write path on purpose.

``EVENTLAKE_FAULTS`` holds ``point=action[@hit]`` entries separated by commas:

* ``kill`` sends this process SIGKILL (a crash: nothing is flushed or released);
* ``stop`` sends it SIGSTOP (a pause: a GC stall, a frozen VM) until SIGCONT;
* ``hit`` (default 1) is which time the point is reached that fires it.

For example ``EVENTLAKE_FAULTS=committer.after_rejected_commit=kill@2``. Unset
(always, in production) every point is a no-op that costs one dict lookup.
The points are listed in ``POINTS``.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "consumer.after_plan",  # a batch is planned, nothing written
    "committer.after_write",  # data files written, nothing committed
    "committer.after_rejected_commit",  # rejected rows committed, valid rows not
    "committer.after_valid_commit",  # a dataset's valid rows committed, jobs not recorded
    "committer.after_record",  # jobs recorded, read positions not advanced
    "committer.after_positions",  # the whole batch done
)


def _parse(spec: str) -> dict[str, tuple[str, int]]:
    faults = {}
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        point, _, action = entry.partition("=")
        action, _, hit = action.partition("@")
        if point not in POINTS or action not in ("kill", "stop"):
            raise ValueError(f"EVENTLAKE_FAULTS: unknown fault {entry!r} (points: {', '.join(POINTS)}; actions: kill, stop)")
        faults[point] = (action, int(hit or 1))
    return faults


_FAULTS: dict[str, tuple[str, int]] | None = None  # read from the settings at the first point reached
_hits: dict[str, int] = {}


def point(name: str) -> None:
    """Fire the fault configured for ``name``, if any."""
    global _FAULTS
    if _FAULTS is None:
        from eventlake.settings import get_settings

        _FAULTS = _parse(get_settings().faults)
    if not _FAULTS:
        return
    fault = _FAULTS.get(name)
    if fault is None:
        return
    _hits[name] = _hits.get(name, 0) + 1
    action, hit = fault
    if _hits[name] == hit:
        os.kill(os.getpid(), signal.SIGKILL if action == "kill" else signal.SIGSTOP)
