"""Stand-ins for the production backends on one machine: what `eventlake demo --env PROD` runs against.

* ``moto_server`` (moto's HTTP server) answers for AWS: Kinesis, S3 and Glue;
* a fakesnow server (Snowflake's HTTP API over DuckDB) answers for Snowflake.

Both start as child processes of the demo (:func:`moto_command`, :func:`fakesnow_command`), on
free ports. :func:`prod_settings` turns a user's settings into the PROD settings that point every
hop at them (``EVENTLAKE_ENV=PROD``, Kinesis, S3 + Glue, Snowflake), and :func:`settings_environ`
writes those as the ``EVENTLAKE_*`` variables the demo's processes (API, consumer, Dagster,
dashboard) read; :func:`provision` creates what a deployment's Terraform would: the bucket, the
Kinesis stream, the Glue database and tables, the Snowflake database. The job store and the
Dagster instance stay what the user's settings say (SQLite under EVENTLAKE_HOME unless they name
PostgreSQL).

moto and fakesnow are dev dependencies (``pyproject.toml``'s ``dev`` group, which ``make setup``
installs): nothing here imports them before it runs them, and :func:`require` says how to install
them when they are missing. The tests use :func:`fakesnow_server`, the same server in a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from eventlake.settings import Settings

#: moto and fakesnow, as pyproject.toml's dev group names them
INSTALL = (
    "they are dev dependencies: `make setup` installs them (uv sync, dev group), "
    "or `uv pip install 'moto[server]>=5.1' 'fakesnow[server]>=0.12'` into this environment"
)
#: the Snowflake login fakesnow accepts (it accepts any)
FAKESNOW_LOGIN = {"account": "fakesnow", "user": "fake", "password": "snow"}
#: credentials moto takes: a developer's real AWS profile must never reach the demo's requests
AWS_TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
AWS_VARIABLES_DROPPED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
#: the settings that point the pipeline at the peers (the rest stay the user's)
PROD_FIELDS = (
    "env", "stream", "stream_name", "kinesis_endpoint_url", "catalog_type", "glue_endpoint_url", "warehouse",
    "s3_endpoint_url", "aws_region", "snowflake_account", "snowflake_user", "snowflake_password",
    "snowflake_database", "snowflake_host", "snowflake_port", "snowflake_protocol",
)
DEMO_BUCKET = "eventlake-demo"


class PeersMissing(RuntimeError):
    """moto_server or fakesnow is not installed in this environment."""


def moto_server_path() -> str | None:
    """The moto_server of this interpreter's environment (else on PATH), None when not installed."""
    beside = Path(sys.executable).with_name("moto_server")
    return str(beside) if beside.exists() else shutil.which("moto_server")


def missing() -> list[str]:
    """What `eventlake demo --env PROD` needs and this environment lacks."""
    lacking = []
    if moto_server_path() is None:
        lacking.append("moto_server (moto[server])")
    if importlib.util.find_spec("fakesnow") is None or importlib.util.find_spec("uvicorn") is None:
        lacking.append("fakesnow (fakesnow[server])")
    return lacking


def require() -> None:
    """Raise :class:`PeersMissing`, saying how to install them, when moto_server or fakesnow is missing."""
    lacking = missing()
    if lacking:
        raise PeersMissing(f"`eventlake demo --env PROD` runs the production wiring against moto_server (Kinesis, "
                           f"S3, Glue) and a fakesnow server (Snowflake), and this environment lacks "
                           f"{' and '.join(lacking)}: {INSTALL}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def moto_command(host: str, port: int) -> list[str]:
    return [moto_server_path() or "moto_server", "-H", host, "-p", str(port)]


def fakesnow_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "eventlake.peers", "fakesnow", "--host", host, "--port", str(port)]


def moto_ready(url: str) -> bool:
    import httpx

    return httpx.get(f"{url}/moto-api/", timeout=2).status_code < 500


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


# -- settings ---------------------------------------------------------------------------
def prod_settings(settings: Settings, *, moto_url: str, snowflake_host: str, snowflake_port: int,
                  stream_name: str | None = None) -> Settings:
    """``settings`` with every hop pointed at the peers: PROD, Kinesis, S3 + Glue, Snowflake (validated
    like any settings). The job store, the home, the ports and the rest stay as they were.

    The stream gets a name of its own (a new moto_server holds no stream, and the consumer's read
    positions in the job store are kept per stream name)."""
    values = settings.model_dump()
    values.update(
        env="PROD",
        stream="kinesis",
        stream_name=stream_name or f"eventlake-demo-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:4]}",
        kinesis_endpoint_url=moto_url,
        catalog_type="glue",
        glue_endpoint_url=moto_url,
        warehouse=f"s3://{DEMO_BUCKET}/warehouse",
        s3_endpoint_url=moto_url,
        snowflake_account=FAKESNOW_LOGIN["account"],
        snowflake_user=FAKESNOW_LOGIN["user"],
        snowflake_password=FAKESNOW_LOGIN["password"],
        snowflake_host=snowflake_host,
        snowflake_port=snowflake_port,
        snowflake_protocol="http",
    )
    return Settings.model_validate(values)


def settings_environ(settings: Settings, fields: tuple[str, ...] = PROD_FIELDS) -> dict[str, str]:
    """The ``EVENTLAKE_*`` variables that give a process ``settings``' values of ``fields`` (unset ones: "")."""
    environ = {}
    for name in fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        environ[f"EVENTLAKE_{name.upper()}"] = "" if value is None else str(value)
    return environ


def aws_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with moto's test credentials instead of any AWS credentials or profile of the user's."""
    out = {k: v for k, v in environ.items() if k not in AWS_VARIABLES_DROPPED}
    out.update(AWS_TEST_CREDENTIALS)
    return out


def snowflake_connect_args(settings: Settings) -> dict[str, Any]:
    """``snowflake.connector.connect`` arguments of the settings' Snowflake (without a database)."""
    return {
        "account": settings.snowflake_account, "user": settings.snowflake_user,
        "password": settings.snowflake_password.get_secret_value() if settings.snowflake_password else None,
        "host": settings.snowflake_host, "port": settings.snowflake_port, "protocol": settings.snowflake_protocol,
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        "network_timeout": 30,
    }


def provision(settings: Settings) -> list[str]:
    """Create on the peers what a deployment provisions once: the warehouse bucket, the Kinesis stream,
    the Glue database with the raw tables, the Snowflake database. Returns what it created, in words."""
    import boto3
    import snowflake.connector

    from eventlake import contracts, lake
    from eventlake.stream import open_stream

    bucket = settings.warehouse_location.removeprefix("s3://").split("/", 1)[0]
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.aws_region)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        if settings.aws_region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": settings.aws_region})
    stream = open_stream(settings)
    try:
        stream.ensure()
    finally:
        stream.close()
    tables = lake.ensure_tables(lake.load_catalog(settings))
    with snowflake.connector.connect(**snowflake_connect_args(settings)) as conn:
        conn.cursor().execute(f"create database if not exists {settings.snowflake_database}")
    return [
        f"S3 bucket {bucket}",
        f"Kinesis stream {settings.stream_name} ({settings.stream_shards} shards)",
        f"Glue database {contracts.RAW_NAMESPACE} with {', '.join(sorted(tables))}",
        f"Snowflake database {settings.snowflake_database}",
    ]


# -- the fakesnow server ------------------------------------------------------------------
def timestamps_keeping_nulls(original):
    """fakesnow 0.12's server encodes a null timestamp as a struct without a validity mask, so the
    connector reads it as 1970-01-01 (Snowflake sends a null): ``original`` (fakesnow's
    ``arrow.timestamp_to_sf_struct``) wrapped to keep the nulls."""

    def to_struct(ts):
        import pyarrow as pa
        import pyarrow.compute as pc

        struct = original(ts)
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if not ts.null_count:
            return struct
        return pa.StructArray.from_arrays(
            [struct.field(i) for i in range(struct.type.num_fields)], fields=list(struct.type), mask=pc.is_null(ts)
        )

    to_struct.keeps_nulls = True  # type: ignore[attr-defined]
    return to_struct


def keep_null_timestamps() -> None:
    """Make this process's fakesnow server send null timestamps as nulls (:func:`timestamps_keeping_nulls`)."""
    import fakesnow.arrow

    if not getattr(fakesnow.arrow.timestamp_to_sf_struct, "keeps_nulls", False):
        fakesnow.arrow.timestamp_to_sf_struct = timestamps_keeping_nulls(fakesnow.arrow.timestamp_to_sf_struct)


def _fakesnow_uvicorn(host: str, port: int, log_level: str = "warning"):
    import uvicorn

    # ``fakesnow.server()`` cannot be called twice in one process: its first call imports the
    # submodule ``fakesnow.server``, which then shadows the function on the package. Its ``app`` can.
    app = importlib.import_module("fakesnow.server").app
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))


@contextlib.contextmanager
def fakesnow_server(host: str = "127.0.0.1", port: int | None = None) -> Iterator[dict[str, Any]]:
    """A fakesnow server in a thread of this process, as often as needed; yields the
    ``snowflake.connector.connect`` arguments that reach it."""
    port = port or free_port(host)
    server = _fakesnow_uvicorn(host, port)
    thread = threading.Thread(target=server.run, name="fakesnow server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.is_alive() and not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("the fakesnow server did not start")
    try:
        yield {
            **FAKESNOW_LOGIN, "host": host, "port": port, "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "network_timeout": 1,
        }
    finally:
        server.should_exit = True
        thread.join()


def serve_fakesnow(host: str, port: int) -> None:
    """Run a fakesnow server in this process until SIGTERM or Ctrl-C (the demo's ``fakesnow`` component)."""
    keep_null_timestamps()
    _fakesnow_uvicorn(host, port).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventlake.peers", description="Run a stand-in backend.")
    sub = parser.add_subparsers(dest="peer", required=True)
    p = sub.add_parser("fakesnow", help="a fakesnow server (Snowflake's HTTP API over DuckDB)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, required=True, help="port to listen on")
    args = parser.parse_args(argv)
    serve_fakesnow(args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
