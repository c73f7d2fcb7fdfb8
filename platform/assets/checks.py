"""Asset checks on the dbt models, sized to the new data.

Great Expectations suites (kept as data in gx/) run as one check per suite on
the dbt model the suite names. A suite validates only the rows a run brought:
- a suite whose model feeds a downstream model (``meta.downstream``, the
  staging suite) validates the rows that model has not read yet. Its check
  is blocking, so while such rows fail, the layers downstream are not built:
  rows a failed run left behind are validated again by the next run instead
  of flowing on with it;
- other suites validate the rows of the model's latest run (its newest
  ``dbt_loaded_at``).
Each check stores its result for the dashboard and reports what failed with
counts, sample values and the keys of the failing rows (``failing_rows``), and
links the run's Great Expectations Data Docs page (``data_docs``, built under
the settings' ``gx_root``: ``$EVENTLAKE_HOME/gx`` or S3). A run that brought no rows passes without loading
Great Expectations. The rows are read in chunks of ``CHUNK_ROWS``, so a first
build over the whole history holds one chunk in memory, not the history;
uniqueness across chunks is counted in the warehouse (``duplicates``).

Table invariants run as SQL aggregates in the warehouse
(``fact_events_reconciliation``): one fact row per event, row counts per
ingestion job equal in stg_events and fact_events, every fact key present in
its dimension. Each run checks its own load; the daily full-checks run
(``full_checks_run_config``) checks whole tables.
"""

import itertools

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    Config,
    MetadataValue,
    asset_check,
)
from pydantic import Field as PydanticField

from eventlake import quality
from eventlake.resources.core import EventlakeResource

# a failing staging suite stops bad data from flowing on to the marts
BLOCKING_LAYERS = {"staging"}
EPOCH = "cast('1900-01-01 00:00:00' as timestamp)"
#: rows of a model held in memory at once by a GX check
CHUNK_ROWS = 200_000
#: keys shown per duplicated-key sample
SAMPLE_KEYS = 20


def _exists(warehouse, schema: str, name: str) -> bool:
    frame = warehouse.query_df(
        "select count(*) from information_schema.tables "
        f"where lower(table_schema) = '{schema.lower()}' and lower(table_name) = '{name.lower()}'"
    )
    return int(frame.iloc[0, 0]) > 0


def rows_to_validate(warehouse, spec: quality.SuiteSpec) -> tuple[str, str]:
    """``(select statement, scope in words)`` of the rows a suite validates now."""
    relation = warehouse.relation(spec.schema, spec.asset)
    if spec.downstream:
        schema, model = spec.downstream.split(".", 1)
        if not _exists(warehouse, schema, model):
            return f"select * from {relation}", f"every row of {spec.asset} ({model} has read none yet)"
        since = f"(select coalesce(max(dbt_loaded_at), {EPOCH}) from {warehouse.relation(schema, model)})"
        return (
            f"select * from {relation} where dbt_loaded_at > {since}",
            f"rows of {spec.asset} that {model} has not read yet",
        )
    return (
        f"select * from {relation} where dbt_loaded_at = (select max(dbt_loaded_at) from {relation})",
        f"rows of {spec.asset} written by its latest run",
    )


def duplicates(warehouse, sql: str, columns: list[str]) -> tuple[int, list]:
    """Rows of ``sql`` whose ``columns`` occur more than once (rows where all of them are null aside),
    and a sample of those keys: GX's uniqueness, as an aggregate over every row."""
    cols = ", ".join(columns)
    present = " or ".join(f"{c} is not null" for c in columns)
    frame = warehouse.query_df(
        f"""
        with dup as (
            select {cols}, count(*) as n from ({sql}) as s where {present}
            group by {cols} having count(*) > 1
        )
        select (select coalesce(sum(n), 0) from dup) as dup_rows, d.*
        from (select 1 as one) as one left join (select {cols} from dup order by {cols} limit {SAMPLE_KEYS}) as d on true
        """
    )
    count = int(frame.iloc[0, 0]) if len(frame) else 0
    keys = frame.iloc[:, 1:].dropna(how="all")
    sample = keys.iloc[:, 0].tolist() if len(columns) == 1 else [list(r) for r in keys.itertuples(index=False)]
    return count, sample


def _gx_check(suite_name: str, spec: quality.SuiteSpec):
    model = spec.asset
    blocking = spec.layer in BLOCKING_LAYERS

    @asset_check(
        asset=AssetKey(model),
        name=f"gx_{suite_name}",
        blocking=blocking,
        description=(
            f"Great Expectations suite gx/{suite_name}.json on the new rows of {model}"
            + (" (blocking: downstream layers wait for it)." if blocking else ".")
        ),
        # DuckDB locally, Snowflake in PROD: both offer query_df/relation
        required_resource_keys={"warehouse", "eventlake"},
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        warehouse = context.resources.warehouse
        eventlake: EventlakeResource = context.resources.eventlake
        sql, scope = rows_to_validate(warehouse, spec)
        chunks = warehouse.query_chunks(sql, CHUNK_ROWS)
        first = next(chunks)
        if first.empty:
            chunks.close()
            return AssetCheckResult(
                passed=True,
                metadata={"rows": 0, "scope": scope, "note": "no new rows to validate"},
            )
        settings = eventlake.settings
        result = quality.run_suite_chunks(
            suite_name,
            itertools.chain([first], chunks),
            duplicates=lambda columns: duplicates(warehouse, sql, columns),
            # one Data Docs page per run under the home (or S3 in PROD); a failure to build it only logs
            docs_root=settings.gx_root,
            run_name=context.op_execution_context.run_id,
            s3_endpoint_url=settings.s3_endpoint_url,
        )
        quality.record_result(settings.job_db, result, run_id=context.op_execution_context.run_id)
        failed = result.failed
        for r in failed:
            context.log.warning(
                f"gx {suite_name}: {r['expectation']} on {r.get('column')} failed: "
                f"{r.get('unexpected_count')} unexpected, e.g. {r.get('partial_unexpected_list')}"
            )
        metadata = {
            "rows": result.row_count,
            "scope": scope,
            "evaluated_expectations": result.evaluated_expectations,
            "successful_expectations": result.successful_expectations,
            "failed_expectations": MetadataValue.json(failed) if failed else MetadataValue.text("none"),
        }
        if failed:
            metadata["failing_rows"] = MetadataValue.json(failing_rows(result))
        if result.data_docs:
            metadata["data_docs"] = MetadataValue.url(result.data_docs)
            metadata["data_docs_index"] = MetadataValue.url(result.data_docs_index)
        if failed and blocking:
            metadata["what_to_do"] = MetadataValue.md(
                f"The layers downstream of `{model}` are not built while these rows fail. Fix the data "
                f"(e.g. correct or delete the rows in the raw table and rebuild with `dbt build --full-refresh "
                f"--select {model}+`), then materialize again; the check validates the same rows again."
            )
        return AssetCheckResult(
            passed=result.success,
            # critical expectations fail as errors; the others warn
            severity=AssetCheckSeverity.ERROR if result.critical_failures else AssetCheckSeverity.WARN,
            metadata=metadata,
        )

    return _check


def failing_rows(result: quality.QualityResult) -> list[dict]:
    """Per failed expectation: the rule and the keys of the rows that broke it (a bounded sample),
    so an analyst can find the records (``event_id``/``job_id``, the dims' ``user_id``...)."""
    return [
        {
            "rule": r["rule"],
            "expectation": r["expectation"],
            "column": r.get("column"),
            "unexpected_count": r.get("unexpected_count"),
            "keys": r.get("failing_keys") or [],
        }
        for r in result.failed
    ]


def gx_checks() -> list:
    return [_gx_check(name, spec) for name, spec in sorted(quality.load_suites().items())]


class ReconciliationConfig(Config):
    whole_tables: bool = PydanticField(
        default=False,
        description="Reconcile every job and every fact row (the daily full-checks run), not just the latest load.",
    )


def reconciliation_sql(w, *, whole_tables: bool) -> tuple[str, str, str]:
    """``(per-job counts, totals, scope in words)``: the SQL the reconciliation runs.

    Scoped to the latest load of fact_events (its rows, the jobs they belong to,
    duplicates of their keys anywhere in the table), so a run reads a column or
    two of the history instead of aggregating all of it; ``whole_tables`` checks
    everything (the daily full-checks run)."""
    stg, fact = w.relation("staging", "stg_events"), w.relation("marts", "fact_events")
    users, products = w.relation("marts", "dim_users"), w.relation("marts", "dim_products")
    if whole_tables:
        scope = "every job and every fact row"
        new = fact
        jobs_filter = ""
        dup = f"select count(*) - count(distinct event_sk) from {fact}"
    else:
        scope = "the jobs and fact rows of the latest fact_events load"
        new = f"(select * from {fact} where dbt_loaded_at = (select max(dbt_loaded_at) from {fact}))"
        jobs_filter = f"where job_id in (select distinct job_id from {new} as n)"
        dup = (
            f"select coalesce(sum(n) - count(*), 0) from (select event_sk, count(*) as n from {fact} "
            f"where event_sk in (select event_sk from {new} as n) group by event_sk having count(*) > 1) as d"
        )
    jobs = f"""
        with s as (select job_id, count(*) as n from {stg} {jobs_filter} group by job_id),
             f as (select job_id, count(*) as n, count(distinct event_id) as d from {fact} {jobs_filter} group by job_id)
        select coalesce(s.job_id, f.job_id) as job_id, coalesce(s.n, 0) as staged,
               coalesce(f.n, 0) as fact_rows, coalesce(f.d, 0) as fact_events
        from s full outer join f on f.job_id = s.job_id
        order by job_id
        """
    totals = f"""
        select
            (select count(*) from {new} as n) as fact_rows,
            ({dup}) as duplicate_fact_rows,
            (select count(*) from {new} as f left join {users} u on u.user_sk = f.user_sk where u.user_sk is null)
                as missing_user_keys,
            (select count(*) from {new} as f left join {products} p on p.product_sk = f.product_sk
                where f.product_sk is not null and p.product_sk is null) as missing_product_keys
        """
    return jobs, totals, scope


@asset_check(
    asset=AssetKey("fact_events"),
    name="fact_events_reconciliation",
    description=(
        "SQL aggregates in the warehouse: one fact row per event, rows per ingestion job equal in stg_events "
        "and fact_events, every user_sk/product_sk present in dim_users/dim_products. Each run checks its own "
        "load (its rows and jobs; duplicates of its keys anywhere); the daily full-checks run checks whole tables."
    ),
    required_resource_keys={"warehouse"},
)
def fact_events_reconciliation(context: AssetCheckExecutionContext, config: ReconciliationConfig) -> AssetCheckResult:
    w = context.resources.warehouse
    jobs_sql, totals_sql, scope = reconciliation_sql(w, whole_tables=config.whole_tables)
    jobs = w.query_df(jobs_sql)
    totals = w.query_df(totals_sql).iloc[0]
    jobs.columns = [c.lower() for c in jobs.columns]  # Snowflake answers in upper case
    totals.index = [c.lower() for c in totals.index]
    mismatched = jobs[(jobs["staged"] != jobs["fact_rows"]) | (jobs["fact_rows"] != jobs["fact_events"])]
    problems = {
        "duplicate_fact_rows": int(totals["duplicate_fact_rows"]),
        "missing_user_keys": int(totals["missing_user_keys"]),
        "missing_product_keys": int(totals["missing_product_keys"]),
        "jobs_not_reconciled": len(mismatched),
    }
    metadata = {
        "scope": scope,
        "fact_rows": int(totals["fact_rows"]),
        "jobs": len(jobs),
        **problems,
    }
    if len(mismatched):
        sample = mismatched.head(20)
        metadata["jobs_not_reconciled_sample"] = MetadataValue.md(sample.to_markdown(index=False))
    passed = not any(problems.values())
    if not passed:
        context.log.error(f"fact_events reconciliation failed ({scope}): {problems}")
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.ERROR, metadata=metadata)


def full_checks_run_config() -> dict:
    """Run config of the ops whose checks cover whole tables in the daily full-checks run."""
    return {fact_events_reconciliation.node_def.name: ReconciliationConfig(whole_tables=True)}


def reconciliation_checks() -> list:
    return [fact_events_reconciliation]
