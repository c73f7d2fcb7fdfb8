"""Great Expectations suites (kept as data in gx/) run as Dagster asset checks.

One check per suite, on the dbt model the suite names. Each check reads the
model from the warehouse, runs a real GX validation, stores the result for the
dashboard, and reports what failed with counts and sample values.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from eventlake import quality
from eventlake.resources.core import EventlakeResource

# a failing staging suite stops bad data from flowing on to the marts
BLOCKING_LAYERS = {"staging"}


def _gx_check(suite_name: str, spec):
    model = spec.asset

    @asset_check(
        asset=AssetKey(model),
        name=f"gx_{suite_name}",
        blocking=spec.layer in BLOCKING_LAYERS,
        description=f"Great Expectations suite gx/{suite_name}.json on {model}.",
        # DuckDB locally, Snowflake in PROD: both offer query_df/relation
        required_resource_keys={"warehouse", "eventlake"},
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        warehouse = context.resources.warehouse
        eventlake: EventlakeResource = context.resources.eventlake
        df = warehouse.query_df(f"select * from {warehouse.relation(spec.schema, model)}")
        result = quality.run_suite(suite_name, df)
        quality.record_result(eventlake.settings.job_db, result, run_id=context.op_execution_context.run_id)
        failed = result.failed
        for r in failed:
            context.log.warning(
                f"gx {suite_name}: {r['expectation']} on {r.get('column')} failed: "
                f"{r.get('unexpected_count')} unexpected, e.g. {r.get('partial_unexpected_list')}"
            )
        return AssetCheckResult(
            passed=result.success,
            # critical expectations fail as errors; the others warn
            severity=AssetCheckSeverity.ERROR if result.critical_failures else AssetCheckSeverity.WARN,
            metadata={
                "rows": len(df),
                "evaluated_expectations": result.evaluated_expectations,
                "successful_expectations": result.successful_expectations,
                "failed_expectations": MetadataValue.json(failed) if failed else MetadataValue.text("none"),
            },
        )

    return _check


def gx_checks() -> list:
    return [_gx_check(name, spec) for name, spec in sorted(quality.load_suites().items())]
