"""A fakesnow server (fakesnow's Snowflake HTTP API over DuckDB) on a free port, in a thread of the test process.

The helper is ``eventlake.peers.fakesnow_server``, which `eventlake demo --env PROD` shares: unlike
``fakesnow.server()``, it starts as often as needed in one process, and yields the same connection arguments.
"""

from __future__ import annotations

from eventlake.peers import fakesnow_server

__all__ = ["fakesnow_server"]
