"""The framework ceiling for ``eventlake bench ingest``: a bare FastAPI endpoint.

``POST /api/v1/ingest`` reads the body, parses it as JSON and answers 202 with a
small JSON body: no API key, no job store, no stream. It is served at its
strongest, as ``eventlake api`` serves the real API (``api.main.run``): one uvicorn
worker per core (at most 4), httptools, no access log. Its requests/s are the most
the real API could reach on this machine with this framework.

    python -m eventlake.bench.bare_api --port 8100
"""

from __future__ import annotations

import argparse
import os
import sys

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI(title="eventlake bench: bare ingest endpoint")

    @app.post("/api/v1/ingest", status_code=202)
    async def ingest(request: Request) -> JSONResponse:
        record = orjson.loads(await request.body())
        return JSONResponse({"status": "accepted", "record_count": 1 if isinstance(record, dict) else len(record)}, status_code=202)

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m eventlake.bench.bare_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="uvicorn worker processes (default: one per core, at most 4, as `eventlake api`)")
    args = parser.parse_args(argv)
    # as api.main.run serves the real API: workers per core, httptools, no access log
    uvicorn.run("eventlake.bench.bare_api:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, http="httptools", access_log=False, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
