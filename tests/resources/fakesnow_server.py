"""A fakesnow server (fakesnow's Snowflake HTTP API over DuckDB) on a free port, in a thread of the test process.

The helper is ``eventlake.peers.fakesnow_server``, which `eventlake demo --env PROD` shares: unlike
``fakesnow.server()``, it starts as often as needed in one process, and yields the same connection arguments.
``snowflake_server`` is the module-scoped fixture around it (import it into a test module to use it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eventlake.peers import fakesnow_server

__all__ = ["fakesnow_server", "snowflake_env", "snowflake_server"]


@pytest.fixture(scope="module")
def snowflake_server() -> Iterator[dict[str, Any]]:
    """A fakesnow server for the module's tests (skipped without fakesnow): its connection arguments."""
    pytest.importorskip("fakesnow")
    with fakesnow_server() as kwargs:
        yield kwargs


def snowflake_env(server: dict[str, Any], database: str) -> dict[str, str]:
    """The EVENTLAKE_SNOWFLAKE_* settings that point eventlake at ``server``'s ``database``."""
    return {
        "EVENTLAKE_SNOWFLAKE_ACCOUNT": server["account"],
        "EVENTLAKE_SNOWFLAKE_USER": server["user"],
        "EVENTLAKE_SNOWFLAKE_PASSWORD": server["password"],
        "EVENTLAKE_SNOWFLAKE_DATABASE": database,
        "EVENTLAKE_SNOWFLAKE_HOST": server["host"],
        "EVENTLAKE_SNOWFLAKE_PORT": str(server["port"]),
        "EVENTLAKE_SNOWFLAKE_PROTOCOL": server["protocol"],
    }
