"""Runs a suite on a model's rows with a real GX 1.x validation (ephemeral
context, pandas data source, whole-dataframe batch, ``ValidationDefinition``)
and returns a plain :class:`~eventlake.quality.results.QualityResult`; rows
that arrive in chunks are validated one chunk at a time and the per-chunk
outcomes merged.

``import great_expectations`` costs about 7 s, so it happens inside
:func:`run_suite`, never when this module is imported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventlake.quality.results import QualityResult, json_safe
from eventlake.quality.suites import SuiteError, SuiteSpec, load_suites

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("eventlake.quality")

# how many failing values GX keeps per expectation (partial_unexpected_list)
SAMPLE_SIZE = 20
#: how many failing rows' keys are kept per expectation (``failing_keys``)
KEY_SAMPLE = 50


def run_suite(
    suite_name: str,
    df: pd.DataFrame,
    *,
    suites: Mapping[str, SuiteSpec] | None = None,
    docs_root: str | None = None,
    run_name: str | None = None,
    s3_endpoint_url: str | None = None,
) -> QualityResult:
    """Validate ``df`` (rows of the suite's dbt model) with the named suite.

    Failing expectations are logged with their rule, counts, sample
    values and failing rows' keys (warning severity logs at WARNING, the
    rest at ERROR). With ``docs_root`` the run's Data Docs are built there
    (:mod:`eventlake.quality.docs`).
    """
    return run_suite_chunks(
        suite_name, [df], suites=suites, docs_root=docs_root, run_name=run_name, s3_endpoint_url=s3_endpoint_url
    )


#: expectations over a set of rows rather than one row at a time: a chunk sees only its own duplicates
SET_EXPECTATIONS = frozenset({"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"})

#: ``(columns) -> (rows whose key occurs more than once, sample keys)`` over all the rows validated
DuplicateCounter = Callable[[list[str]], tuple[int, list[Any]]]


def run_suite_chunks(
    suite_name: str,
    chunks: Iterable[pd.DataFrame],
    *,
    duplicates: DuplicateCounter | None = None,
    suites: Mapping[str, SuiteSpec] | None = None,
    docs_root: str | None = None,
    run_name: str | None = None,
    s3_endpoint_url: str | None = None,
) -> QualityResult:
    """Validate rows that arrive as DataFrame chunks, holding one chunk in memory at a time.

    Row-wise expectations add up over the chunks: unexpected and element
    counts are summed, samples are taken from the first chunks that have
    any. Uniqueness (:data:`SET_EXPECTATIONS`) spans chunks, so when there is
    more than one chunk its result comes from ``duplicates``, an aggregate
    over all the rows (SQL in the warehouse); without it a multi-chunk run
    is refused rather than reporting uniqueness it did not check.

    Each failing expectation names the rows that failed: ``failing_keys``,
    up to :data:`KEY_SAMPLE` dicts of the suite's key columns
    (``meta.key_columns``, e.g. ``event_id`` and ``job_id``) and the failing
    value. With ``docs_root`` (a directory or ``s3://`` URL) one Data Docs
    page is built for the run from the merged result (see
    :mod:`eventlake.quality.docs`); ``data_docs`` and ``data_docs_index`` of
    the result say where. A failure to build them is logged, never raised:
    the validation stands without its page.
    """
    catalog = suites if suites is not None else load_suites()
    try:
        spec = catalog[suite_name]
    except KeyError:
        raise SuiteError(f"unknown suite {suite_name!r}; known: {', '.join(sorted(catalog))}") from None

    validate = _validator(spec)
    merged: list[dict[str, Any]] | None = None
    gx_outcome: Any = None  # the first chunk's GX result, the frame of the Data Docs page
    shown: list[Any] = []  # per expectation: the GX result of the first chunk where it failed (else the first)
    rows = n_chunks = 0
    for df in chunks:
        if n_chunks and df.empty:
            continue
        if n_chunks == 1 and duplicates is None and any(e["type"] in SET_EXPECTATIONS for e in spec.expectations):
            raise SuiteError(f"suite {spec.name} checks uniqueness: validating it in chunks needs a duplicate counter")
        outcome = validate(df)
        entries = [_result_entry(r) for r in outcome.results]
        if gx_outcome is None:
            gx_outcome, shown = outcome, list(outcome.results)
        else:
            shown = [b if a.success and not b.success else a for a, b in zip(shown, outcome.results, strict=True)]
        merged = entries if merged is None else [_merge(a, b) for a, b in zip(merged, entries, strict=True)]
        rows += len(df)
        n_chunks += 1
    if merged is None:
        raise SuiteError(f"suite {spec.name}: no rows given, not even an empty frame")
    if n_chunks > 1 and duplicates is not None:
        merged = [_uniqueness(entry, duplicates) if entry["expectation"] in SET_EXPECTATIONS else entry for entry in merged]
    for entry in merged:
        entry.pop("missing_count", None)
        entry["chunks"] = n_chunks
    result = QualityResult(
        suite=spec.name,
        asset=spec.asset,
        success=all(e["success"] for e in merged),
        evaluated_expectations=len(merged),
        successful_expectations=sum(e["success"] for e in merged),
        results=merged,
        row_count=rows,
    )
    if docs_root:
        try:
            page = _publish(spec, gx_outcome, shown, result, n_chunks, docs_root, run_name, s3_endpoint_url)
            result.data_docs, result.data_docs_index = page.page, page.index
        except Exception:  # the page documents the validation; its absence must not fail it
            logger.warning("suite %s on %s: could not build Data Docs under %s", spec.name, spec.asset, docs_root, exc_info=True)
    _log_outcome(result)
    return result


def _publish(
    spec: SuiteSpec, gx_outcome: Any, shown: list[Any], result: QualityResult, n_chunks: int,
    docs_root: str, run_name: str | None, s3_endpoint_url: str | None,
) -> Any:
    """The run's Data Docs page: the first chunk's GX result carrying the merged counts, samples and keys."""
    from eventlake.quality import docs

    for gx_entry, entry in zip(shown, result.results, strict=True):
        gx_entry.success = entry["success"]
        detail = dict(gx_entry.result or {})
        for key in ("unexpected_count", "unexpected_percent", "element_count", "partial_unexpected_list", "observed_value"):
            if entry.get(key) is not None or key in detail:
                detail[key] = entry.get(key)
        if n_chunks > 1 or "how" in entry:  # one chunk's value counts would contradict the merged totals
            detail["partial_unexpected_counts"] = _value_counts(entry.get("partial_unexpected_list") or [])
        keys = entry.get("failing_keys") or []
        index_columns = [c for c in spec.key_columns if keys and c in keys[0]]
        if keys and index_columns and detail.get("partial_unexpected_counts"):
            # GX renders the failing rows' keys from unexpected_index_list (the sample we keep)
            detail["partial_unexpected_index_list"] = keys
            detail["unexpected_index_list"] = keys
            detail["unexpected_index_column_names"] = index_columns
        gx_entry.result = detail
    gx_outcome.results = shown
    gx_outcome.success = result.success
    evaluated, successful = result.evaluated_expectations, result.successful_expectations
    gx_outcome.statistics = {
        "evaluated_expectations": evaluated,
        "successful_expectations": successful,
        "unsuccessful_expectations": evaluated - successful,
        "success_percent": 100.0 * successful / evaluated if evaluated else None,
    }
    gx_outcome.meta["eventlake"] = {"rows": result.row_count, "chunks": n_chunks, "key_columns": list(spec.key_columns)}
    return docs.publish(
        gx_outcome, spec.to_gx_dict(), asset=spec.asset, root=docs_root, run_name=run_name,
        run_time=result.run_at, endpoint_url=s3_endpoint_url,
    )


def _validator(spec: SuiteSpec) -> Callable[[pd.DataFrame], Any]:
    """A GX validation of ``spec`` (ephemeral context, pandas source, whole-dataframe batch) as ``df -> outcome``."""
    import great_expectations as gx  # lazy: ~7 s
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name=f"eventlake_{spec.layer or 'data'}")
    asset = source.add_dataframe_asset(name=spec.asset)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole_dataframe")

    gx_suite = gx.ExpectationSuite(**spec.to_gx_dict())
    if len(gx_suite.expectations) != len(spec.expectations):
        # GX logs and drops expectations it cannot build; a silently shorter
        # suite would validate less than the file promises.
        raise SuiteError(f"{spec.path}: GX rejected {len(spec.expectations) - len(gx_suite.expectations)} expectation(s)")
    gx_suite = context.suites.add(gx_suite)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{spec.name}.{spec.asset}", data=batch_definition, suite=gx_suite)
    )

    def validate(df: pd.DataFrame) -> Any:
        keys = [c for c in spec.key_columns if c in df.columns]
        return validation.run(
            batch_parameters={"dataframe": df},
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": KEY_SAMPLE,
                # the failing rows' keys (partial_unexpected_index_list), not a query listing every index
                **({"unexpected_index_column_names": keys, "return_unexpected_index_query": False} if keys else {}),
            },
        )

    return validate


def _value_counts(values: list[Any]) -> list[dict[str, Any]]:
    """GX's ``partial_unexpected_counts`` of a sample of values, most frequent first."""
    from collections import Counter

    counts = Counter(json.dumps(v, sort_keys=True, default=str) for v in values)
    return [{"value": json.loads(text), "count": n} for text, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _add(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else a + b


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One expectation's results on two chunks, as if validated together."""
    out = dict(a)
    out["success"] = a["success"] and b["success"]
    for key in ("unexpected_count", "element_count", "missing_count"):
        out[key] = _add(a.get(key), b.get(key))
    out["partial_unexpected_list"] = (a["partial_unexpected_list"] + b["partial_unexpected_list"])[:SAMPLE_SIZE]
    out["failing_keys"] = (a.get("failing_keys", []) + b.get("failing_keys", []))[:KEY_SAMPLE]
    if out["unexpected_count"] is not None and out["element_count"]:
        present = out["element_count"] - (out.get("missing_count") or 0)
        out["unexpected_percent"] = 100.0 * out["unexpected_count"] / present if present else None
    if not b["success"] and a["success"]:  # a failing chunk's observation explains the failure
        out["observed_value"] = b["observed_value"]
    if b.get("exception") and not a.get("exception"):
        out["exception"] = b["exception"]
    return out


def _uniqueness(entry: dict[str, Any], duplicates: DuplicateCounter) -> dict[str, Any]:
    """A uniqueness expectation decided over every chunk by ``duplicates``."""
    columns = [c for c in (entry["column"] or "").split(",") if c]
    count, sample = duplicates(columns)
    present = (entry.get("element_count") or 0) - (entry.get("missing_count") or 0)
    mostly = entry["kwargs"].get("mostly")
    allowed = (1.0 - float(mostly)) * present if mostly is not None else 0.0
    return {
        **entry,
        "success": count <= allowed and not entry.get("exception"),
        "unexpected_count": count,
        "unexpected_percent": 100.0 * count / present if present else None,
        "partial_unexpected_list": json_safe(sample[:SAMPLE_SIZE]),
        "failing_keys": [_duplicate_key(columns, key) for key in json_safe(sample[:KEY_SAMPLE])],
        "how": "duplicates counted over all chunks in the warehouse",
    }


def _duplicate_key(columns: list[str], key: Any) -> dict[str, Any]:
    values = key if len(columns) > 1 and isinstance(key, list) else [key]
    return dict(zip(columns, values, strict=False))


def _result_entry(validation_result: Any) -> dict[str, Any]:
    config = validation_result.expectation_config
    kwargs = dict(config.kwargs)
    detail = validation_result.result or {}
    columns = _columns_of(kwargs)
    severity = getattr(config, "severity", None)
    severity = str(getattr(severity, "value", severity) or "critical").lower()
    entry: dict[str, Any] = {
        "expectation": config.type,
        "column": ",".join(columns) if columns else None,
        "success": bool(validation_result.success),
        "severity": severity if severity in ("critical", "warning", "info") else "critical",
        "rule": (config.meta or {}).get("rule") or _describe(config.type, kwargs),
        "unexpected_count": json_safe(detail.get("unexpected_count")),
        "unexpected_percent": json_safe(detail.get("unexpected_percent")),
        "partial_unexpected_list": json_safe((detail.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]),
        # the failing rows: their key columns and the failing value (GX's partial_unexpected_index_list)
        "failing_keys": json_safe((detail.get("partial_unexpected_index_list") or [])[:KEY_SAMPLE]),
        "observed_value": json_safe(detail.get("observed_value")),
        "element_count": json_safe(detail.get("element_count")),
        "missing_count": json_safe(detail.get("missing_count")),
        "kwargs": json_safe({k: v for k, v in kwargs.items() if k != "batch_id"}),
    }
    exception = _exception_message(validation_result.exception_info)
    if exception:
        entry["exception"] = exception
        entry["success"] = False
    return entry


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    if kwargs.get("column"):
        return [kwargs["column"]]
    if kwargs.get("column_list"):
        return list(kwargs["column_list"])
    return [kwargs[k] for k in ("column_A", "column_B") if kwargs.get(k)]


def _describe(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k not in ("batch_id",))
    return f"{expectation_type}({shown})"


def _exception_message(info: Any) -> str | None:
    """GX reports a raised exception either flat or keyed by metric id."""
    if not info:
        return None
    candidates = [info] if "raised_exception" in info else list(info.values())
    for candidate in candidates:
        candidate = candidate.to_json_dict() if hasattr(candidate, "to_json_dict") else candidate
        if isinstance(candidate, Mapping) and candidate.get("raised_exception"):
            return str(candidate.get("exception_message") or "expectation raised an exception")
    return None


def _log_outcome(result: QualityResult) -> None:
    if result.success:
        logger.info(
            "suite %s on %s passed: %d/%d expectations, %d rows",
            result.suite, result.asset, result.successful_expectations, result.evaluated_expectations, result.row_count,
        )
        return
    for failure in result.failed:
        level = logging.WARNING if failure["severity"] != "critical" else logging.ERROR
        if failure.get("exception"):
            logger.log(
                level, "suite %s on %s: %s [%s] could not run: %s",
                result.suite, result.asset, failure["rule"], failure["expectation"], failure["exception"],
            )
            continue
        logger.log(
            level,
            "suite %s on %s: rule violated: %s [%s on %s]: %s of %s rows unexpected (%s%%), sample values %s, observed %s, "
            "failing rows %s",
            result.suite, result.asset, failure["rule"], failure["expectation"], failure["column"],
            failure["unexpected_count"], failure["element_count"] if failure["element_count"] is not None else result.row_count,
            _round(failure["unexpected_percent"]), failure["partial_unexpected_list"][:SAMPLE_SIZE], failure["observed_value"],
            failure.get("failing_keys", [])[:5],
        )
    logger.error(
        "suite %s on %s failed: %d of %d expectations failed (%d critical)",
        result.suite, result.asset, len(result.failed), result.evaluated_expectations, len(result.critical_failures),
    )


def _round(value: Any) -> Any:
    return round(value, 2) if isinstance(value, float) else value


def read_relation(duckdb_path: Path | str, relation: str) -> pd.DataFrame:
    """All rows of ``schema.model`` from a DuckDB file, read-only."""
    import duckdb

    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.sql(f"select * from {relation}").df()
