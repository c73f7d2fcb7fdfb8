"""A real moto_server process (Kinesis, S3, Glue over HTTP): fixtures the stream and lake tests import in their conftest."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    moto_server = Path(sys.executable).with_name("moto_server")
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [str(moto_server), "-H", "127.0.0.1", "-p", str(port)], stdout=log_file, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/moto-api/", timeout=2).status_code < 500:
                        break
                if proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited with {proc.returncode}: {log_path.read_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer within 60 s: {log_path.read_text()}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def fake_aws_credentials(monkeypatch):
    # moto takes any credentials; never let a developer's real profile reach the test
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
