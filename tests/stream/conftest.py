"""The stream tests' moto_server (Kinesis over HTTP)."""

from tests.moto_server import fake_aws_credentials, moto_url  # noqa: F401 (fixtures)
