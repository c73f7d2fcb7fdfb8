"""The processor comparison: eventlake's hot path against other tools (``make bench``).

Not part of the ``eventlake`` package a deployment installs: this is the
development-time comparison that chose the Rust processor. ``processor`` runs
the same job, bytes in -> zstd Parquet out, through ``data_processor_rs`` and
through pure Python, polars, DuckDB and pyarrow in the same run, checks that
every contender produced the same rows and the same violations, and reports
medians, throughput, peak memory and ratios.

Installed (editable) with the dev dependency group, as the uv workspace member
``eventlake-benchmarks`` (``benchmarks/pyproject.toml``):

    make bench                                   # the whole comparison
    python -m benchmarks.processor --quick       # a smoke run

The load generators a deployment runs on its own hardware stay in the runtime
package: ``eventlake bench ingest`` and ``eventlake bench pipeline``.
"""
