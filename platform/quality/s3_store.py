"""A Great Expectations tuple store backend in S3, for the Data Docs of PROD (:mod:`eventlake.quality.docs`).

GX 1.24 ships filesystem and in-memory tuple backends only (its ``TupleS3StoreBackend``
is gone), so a site, a validation results store or an expectations store in
``s3://bucket/prefix`` uses this one (boto3; ``endpoint_url`` for moto or another
S3-compatible store). Keys map to object names as in GX's filesystem backend
(``<prefix>/<a>/<b>/<c><suffix>``), so the site has the same layout as the local one.

Importing this module imports GX: it is named in a store configuration only
(``module_name: eventlake.quality.s3_store``), which GX loads when it builds the store.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError
from great_expectations.data_context.store.tuple_store_backend import TupleStoreBackend
from great_expectations.exceptions import InvalidKeyError


class S3StoreBackend(TupleStoreBackend):
    """GX tuple store backend on ``s3://bucket/prefix``."""

    def __init__(  # noqa: PLR0913 - GX's tuple backend arguments
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        filepath_template: str | None = None,
        filepath_prefix: str | None = None,
        filepath_suffix: str | None = None,
        forbidden_substrings: list[str] | None = None,
        platform_specific_separator: bool = False,
        fixed_length_key: bool = False,
        suppress_store_backend_id: bool = False,
        manually_initialize_store_backend_id: str = "",
        base_public_path: str | None = None,
        store_name: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._client = boto3.client("s3", endpoint_url=endpoint_url)
        super().__init__(
            filepath_template=filepath_template,
            filepath_prefix=filepath_prefix,
            filepath_suffix=filepath_suffix,
            forbidden_substrings=forbidden_substrings,
            platform_specific_separator=False,  # object names use "/" whatever the platform
            fixed_length_key=fixed_length_key,
            suppress_store_backend_id=suppress_store_backend_id,
            manually_initialize_store_backend_id=manually_initialize_store_backend_id,
            base_public_path=base_public_path,
            store_name=store_name,
        )
        self._config = {
            "module_name": __name__,
            "class_name": type(self).__name__,
            "bucket": bucket,
            "prefix": self.prefix,
            "endpoint_url": endpoint_url,
            "filepath_template": filepath_template,
            "filepath_prefix": filepath_prefix,
            "filepath_suffix": filepath_suffix,
            "fixed_length_key": fixed_length_key,
            "suppress_store_backend_id": suppress_store_backend_id,
            "base_public_path": base_public_path,
            "store_name": store_name,
        }

    def _object(self, key: tuple) -> str:
        path = self._convert_key_to_filepath(key)
        return f"{self.prefix}/{path}" if self.prefix else path

    def _get(self, key: tuple) -> str:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"].read()
        except ClientError as exc:
            raise InvalidKeyError(f"s3://{self.bucket}/{self._object(key)} does not exist") from exc
        return body.decode("utf-8")

    def _get_all(self) -> list[Any]:
        return [self._get(key) for key in self.list_keys() if key != self.STORE_BACKEND_ID_KEY]

    def _set(self, key: tuple, value: Any, content_encoding: str | None = "utf-8", content_type: str | None = None, **kwargs: Any) -> str:
        body = value.encode(content_encoding or "utf-8") if isinstance(value, str) else value
        extra = {"ContentType": content_type} if content_type else {}
        name = self._object(key)
        self._client.put_object(Bucket=self.bucket, Key=name, Body=body, **extra)
        return name

    def _move(self, source_key: tuple, dest_key: tuple, **kwargs: Any) -> None:
        source = self._object(source_key)
        self._client.copy_object(Bucket=self.bucket, Key=self._object(dest_key), CopySource={"Bucket": self.bucket, "Key": source})
        self._client.delete_object(Bucket=self.bucket, Key=source)

    def list_keys(self, prefix: tuple = ()) -> list[tuple]:
        start = f"{self.prefix}/" if self.prefix else ""
        keys: list[tuple] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(start):]
                if self.filepath_prefix and not relative.startswith(self.filepath_prefix):
                    continue
                if self.filepath_suffix and not relative.endswith(self.filepath_suffix):
                    continue
                key = self._convert_filepath_to_key(relative)
                if key and not self.is_ignored_key(key) and tuple(key[: len(prefix)]) == tuple(prefix):
                    keys.append(key)
        return keys

    def remove_key(self, key: tuple) -> bool:
        self._client.delete_object(Bucket=self.bucket, Key=self._object(key))
        return True

    def _has_key(self, key: tuple) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError:
            return False
        return True

    def get_url_for_key(self, key: tuple, protocol: str | None = None) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{self._object(key)}"
        return f"https://{self.bucket}.s3.amazonaws.com/{self._object(key)}"

    def get_public_url_for_key(self, key: tuple, protocol: str | None = None) -> str:
        return self.get_url_for_key(key, protocol)

    @property
    def config(self) -> dict:
        return self._config
