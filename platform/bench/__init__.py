"""Benchmarks of eventlake's hot path (``eventlake bench processor``).

``processor`` runs the same job, bytes in -> zstd Parquet out, through
``data_processor_rs`` and through pure Python, polars, DuckDB and pyarrow in
the same run, checks that every contender produced the same rows and the same
violations, and reports medians, throughput, peak memory and ratios.
"""
