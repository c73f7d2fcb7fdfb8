"""Load generators a deployment runs on its own hardware, as ``pgbench`` ships with PostgreSQL.

* ``ingest`` (``eventlake bench ingest``): the ingest path against the real API
  (``loadgen`` drives the load, ``bare_api`` is the bare FastAPI ceiling,
  ``chaos`` the chaos soak, ``ingest_report`` the goals, tables and chart);
* ``pipeline`` (``eventlake bench pipeline``): the transform on a growing
  history and freshness to ``fact_events`` (``pipeline_report``);
* ``common``: argument types, machine info, where results go and the result
  files. The PNG charts need the ``charts`` extra (matplotlib); without it the
  JSON results are still written.

The processor comparison (the Rust processor against pure Python, polars,
DuckDB and pyarrow) is not here: it is the top-level ``benchmarks`` package of
the repository, installed with the dev dependency group (``make bench``).
"""
