"""Data quality: the Great Expectations suites in ``gx/`` and the runner the Dagster asset checks call.

* :mod:`~eventlake.quality.suites`: the suite files (``gx/*.json``) and what each validates;
* :mod:`~eventlake.quality.runner`: a GX validation of a DataFrame, or of rows in chunks;
* :mod:`~eventlake.quality.results`: the outcome and its table in the job database;
* :mod:`~eventlake.quality.docs`: the Great Expectations Data Docs of every run (local or S3).

Importing the package does not import great_expectations (the runner does, when it runs).
"""

from eventlake.quality.results import QualityResult, latest_data_docs, recent_results, record_result
from eventlake.quality.runner import read_relation, run_suite, run_suite_chunks
from eventlake.quality.suites import SuiteError, SuiteSpec, load_suites

__all__ = [
    "QualityResult",
    "SuiteError",
    "SuiteSpec",
    "latest_data_docs",
    "load_suites",
    "read_relation",
    "recent_results",
    "record_result",
    "run_suite",
    "run_suite_chunks",
]
