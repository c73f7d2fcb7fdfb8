"""Great Expectations Data Docs of every suite run: one validation page per run and an index of them all.

The site lives under the settings' ``gx_root`` (:attr:`eventlake.settings.Settings.gx_root`):

* ``<root>/data_docs/index.html``: GX's index of every stored validation, newest first;
* ``<root>/data_docs/validations/<suite>/<run>/<time>/<model>.html``: one run's page;
* ``<root>/validations/`` and ``<root>/expectations/``: the GX stores the site is built from
  (the validation results as JSON, the suites as they were when they ran).

``<root>`` is ``$EVENTLAKE_HOME/gx`` locally. An ``s3://bucket/prefix`` root (PROD: the
warehouse bucket's ``gx/``, or ``EVENTLAKE_DATA_DOCS_URL``) keeps stores and site in S3
through :class:`S3StoreBackend` (GX 1.x ships no S3 store backend of its own).

A run validated in chunks has one page: the merged result (counts summed over the chunks,
samples and failing keys from the first chunks that have any; each expectation's observed
value from the first chunk where it failed), built by the runner, not one page per chunk.

GX is imported by :func:`publish` only (it costs ~7 s; the runner has imported it already).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger("eventlake.quality")

#: the name of the Data Docs site in the GX context
SITE_NAME = "eventlake"


@dataclass(frozen=True)
class DocsPage:
    """Where a run's Data Docs are: its validation page and the site's index (file:// or https:// URLs)."""

    page: str
    index: str


def _backend(root: str, sub: str, *, endpoint_url: str | None) -> dict[str, Any]:
    if root.startswith("s3://"):
        bucket, _, prefix = root[len("s3://"):].partition("/")
        return {
            "module_name": __name__,
            "class_name": "S3StoreBackend",
            "bucket": bucket,
            "prefix": "/".join(p for p in (prefix.strip("/"), sub) if p),
            "endpoint_url": endpoint_url,
        }
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(Path(root) / sub)}


def docs_context(root: str, *, endpoint_url: str | None = None) -> Any:
    """An ephemeral GX context whose validation results, suites and Data Docs site live under ``root``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    config.stores["eventlake_validations"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": _backend(root, "validations", endpoint_url=endpoint_url),
    }
    config.stores["eventlake_expectations"] = {
        "class_name": "ExpectationsStore",
        "store_backend": _backend(root, "expectations", endpoint_url=endpoint_url),
    }
    config.validation_results_store_name = "eventlake_validations"
    config.expectations_store_name = "eventlake_expectations"
    config.data_docs_sites = {
        SITE_NAME: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": _backend(root, "data_docs", endpoint_url=endpoint_url),
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }
    config.progress_bars = ProgressBarsConfig(globally=False)
    return gx.get_context(mode="ephemeral", project_config=config)


def publish(
    gx_result: Any,
    suite: dict[str, Any],
    *,
    asset: str,
    root: str,
    run_name: str | None,
    run_time: datetime,
    endpoint_url: str | None = None,
) -> DocsPage:
    """Store ``gx_result`` (an ``ExpectationSuiteValidationResult`` of ``suite``, GX's serialized suite)
    under ``root`` and build its page and the index; where they are."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = docs_context(root, endpoint_url=endpoint_url)
    context.suites.add_or_update(gx.ExpectationSuite(**suite))
    run_id = RunIdentifier(run_name=run_name or "adhoc", run_time=run_time)
    gx_result.meta["run_id"] = run_id
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite["name"]),
        run_id=run_id,
        batch_identifier=asset,
    )
    context.validation_results_store.set(key, gx_result)
    built = context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=[key])
    urls = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE_NAME)
    page = urls[0]["site_url"] if urls else None
    index = built.get(SITE_NAME)
    if not page or not index:
        raise RuntimeError(f"GX built no Data Docs page for {suite['name']} under {root}")
    return DocsPage(page=page, index=index)


def local_path(url: str | None) -> Path | None:
    """The file of a ``file://`` Data Docs URL (None for S3 pages)."""
    if not url or not url.startswith("file://"):
        return None
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(url).path))


# -- S3 -----------------------------------------------------------------------------

def _s3_backend_base() -> type:
    from great_expectations.data_context.store.tuple_store_backend import TupleStoreBackend

    return TupleStoreBackend


class _S3Meta(type):
    """Builds :class:`S3StoreBackend` on GX's ``TupleStoreBackend`` when first instantiated, so that
    importing this module does not import GX."""

    _impl: type | None = None

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls._impl is None:
            cls._impl = _make_s3_backend()
        return cls._impl(*args, **kwargs)


class S3StoreBackend(metaclass=_S3Meta):
    """A GX tuple store backend in ``s3://bucket/prefix`` (boto3; ``endpoint_url`` for moto).

    Keys map to object names as in GX's filesystem backend (``<a>/<b>/<c><suffix>``); the Data
    Docs site uses it as its HTML store and the validation and suite stores keep their JSON in it.
    """


def _make_s3_backend() -> type:  # noqa: C901 - one class
    import boto3
    from great_expectations.data_context.store.tuple_store_backend import TupleStoreBackend

    class _S3StoreBackend(TupleStoreBackend):
        def __init__(  # noqa: PLR0913 - GX's backend signature
            self,
            bucket: str,
            prefix: str = "",
            endpoint_url: str | None = None,
            filepath_template=None,
            filepath_prefix=None,
            filepath_suffix=None,
            forbidden_substrings=None,
            platform_specific_separator=False,
            fixed_length_key=False,
            suppress_store_backend_id=False,
            manually_initialize_store_backend_id: str = "",
            base_public_path=None,
            store_name=None,
        ) -> None:
            super().__init__(
                filepath_template=filepath_template,
                filepath_prefix=filepath_prefix,
                filepath_suffix=filepath_suffix,
                forbidden_substrings=forbidden_substrings,
                platform_specific_separator=False,
                fixed_length_key=fixed_length_key,
                suppress_store_backend_id=suppress_store_backend_id,
                manually_initialize_store_backend_id=manually_initialize_store_backend_id,
                base_public_path=base_public_path,
                store_name=store_name,
            )
            self.bucket = bucket
            self.prefix = prefix.strip("/")
            self.endpoint_url = endpoint_url
            self._client = boto3.client("s3", endpoint_url=endpoint_url)
            self._config = {
                "module_name": __name__, "class_name": "S3StoreBackend", "bucket": bucket, "prefix": self.prefix,
                "endpoint_url": endpoint_url, "filepath_template": filepath_template,
                "filepath_prefix": filepath_prefix, "filepath_suffix": filepath_suffix,
                "fixed_length_key": fixed_length_key, "base_public_path": base_public_path,
                "suppress_store_backend_id": suppress_store_backend_id, "store_name": store_name,
            }

        def _object(self, key) -> str:
            path = self._convert_key_to_filepath(key)
            return f"{self.prefix}/{path}" if self.prefix else path

        def _get(self, key):
            from botocore.exceptions import ClientError

            try:
                body = self._client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"].read()
            except ClientError as exc:
                from great_expectations.exceptions import InvalidKeyError

                raise InvalidKeyError(f"{self._object(key)} not in s3://{self.bucket}") from exc
            return body.decode("utf-8")

        def _get_all(self) -> list[Any]:
            return [self._get(k) for k in self.list_keys() if k != self.STORE_BACKEND_ID_KEY]

        def _set(self, key, value, content_encoding: str = "utf-8", content_type: str | None = None, **kwargs):
            body = value.encode(content_encoding) if isinstance(value, str) else value
            extra = {"ContentType": content_type} if content_type else {}
            self._client.put_object(Bucket=self.bucket, Key=self._object(key), Body=body, **extra)
            return self._object(key)

        def _move(self, source_key, dest_key, **kwargs):
            source = self._object(source_key)
            self._client.copy_object(Bucket=self.bucket, Key=self._object(dest_key), CopySource={"Bucket": self.bucket, "Key": source})
            self._client.delete_object(Bucket=self.bucket, Key=source)

        def list_keys(self, prefix: tuple = ()) -> list[tuple]:
            start = f"{self.prefix}/" if self.prefix else ""
            keys = []
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                for obj in page.get("Contents", []):
                    relative = obj["Key"][len(start):]
                    if self.filepath_prefix and not relative.startswith(self.filepath_prefix):
                        continue
                    if self.filepath_suffix and not relative.endswith(self.filepath_suffix):
                        continue
                    key = self._convert_filepath_to_key(relative)
                    if key and not self.is_ignored_key(key) and key[: len(prefix)] == prefix:
                        keys.append(key)
            return keys

        def remove_key(self, key):
            self._client.delete_object(Bucket=self.bucket, Key=self._object(key))
            return True

        def _has_key(self, key):
            from botocore.exceptions import ClientError

            try:
                self._client.head_object(Bucket=self.bucket, Key=self._object(key))
            except ClientError:
                return False
            return True

        def get_url_for_key(self, key, protocol=None) -> str:
            if self.endpoint_url:
                return f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{self._object(key)}"
            return f"https://{self.bucket}.s3.amazonaws.com/{self._object(key)}"

        def get_public_url_for_key(self, key, protocol=None):
            return self.get_url_for_key(key, protocol)

        @property
        def config(self) -> dict:
            return self._config

    return _S3StoreBackend
