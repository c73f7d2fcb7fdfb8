"""Great Expectations Data Docs of every suite run: one validation page per run and an index of them all.

The site lives under the settings' ``gx_root`` (:attr:`eventlake.settings.Settings.gx_root`):

* ``<root>/data_docs/index.html``: GX's index of the stored validations, newest first
  (the newest :data:`INDEX_RUNS`);
* ``<root>/data_docs/validations/<suite>/<run>/<time>/<model>.html``: one run's page;
* ``<root>/validations/`` and ``<root>/expectations/``: the GX stores the site is built from
  (the validation results as JSON, the suites as they were when they ran).

``<root>`` is ``$EVENTLAKE_HOME/gx`` locally. An ``s3://bucket/prefix`` root (PROD: the
warehouse bucket's ``gx/``, or ``EVENTLAKE_DATA_DOCS_URL``) keeps stores and site in S3
through :class:`eventlake.quality.s3_store.S3StoreBackend` (GX 1.24 ships no S3 store backend).

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
#: the newest this many validations are listed on the index (GX reads each one it lists); older
#: pages stay on the site, reachable from the quality_results rows that name them
INDEX_RUNS = 500


@dataclass(frozen=True)
class DocsPage:
    """Where a run's Data Docs are: its validation page and the site's index (file:// or https:// URLs)."""

    page: str
    index: str


def _backend(root: str, sub: str, *, endpoint_url: str | None) -> dict[str, Any]:
    if root.startswith("s3://"):
        bucket, _, prefix = root[len("s3://"):].partition("/")
        return {
            "module_name": "eventlake.quality.s3_store",  # imports GX: loaded by GX when configured
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
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEX_RUNS},
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
