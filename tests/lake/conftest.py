"""The lake tests' moto_server (S3 and Glue over HTTP)."""

from tests.moto_server import fake_aws_credentials, moto_url  # noqa: F401 (fixtures)
