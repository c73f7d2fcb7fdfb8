"""Quality you can read: Great Expectations Data Docs of every suite run, the failing rows' keys, and their links.

The Dagster check runs as Dagster invokes it (``build_asset_check_context``) on a
real DuckDB warehouse holding ``marts.fact_events`` with bad rows, and a real GX
validation builds the Data Docs site under the home. The pages are GX's own HTML,
read back from disk.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import build_asset_check_context

from eventlake import quality
from eventlake.quality import docs
from eventlake.quality.runner import KEY_SAMPLE
from tests.quality.test_quality_suites import fact_events_frame, stg_events_frame

BAD_EVENTS = {3: "e3", 17: "e17", 29: "e29"}  # row -> event_id of the rows given an out-of-range value


def page_text(url: str | None) -> str:
    path = docs.local_path(url)
    assert path is not None and path.is_file(), url
    return html.unescape(path.read_text(encoding="utf-8"))


def warehouse_with_bad_facts(home: Path) -> None:
    """``marts.fact_events`` in the home's DuckDB file: one load of 40 rows, 3 with event_value out of range."""
    frame = fact_events_frame()
    frame["job_id"] = [f"job-{i % 2}" for i in range(len(frame))]
    for row in BAD_EVENTS:
        frame.loc[row, "event_value"] = 9_999_999.0
    frame["dbt_loaded_at"] = pd.Timestamp("2024-03-02 10:00:00")
    home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("create schema marts")
        con.register("frame", frame)
        con.execute("create table marts.fact_events as select * from frame")


def run_check(home: Path, suite: str = "marts_suite"):
    from eventlake.assets.checks import gx_checks
    from eventlake.resources.core import EventlakeResource
    from eventlake.resources.warehouse import DuckDBWarehouse

    (check,) = [c for c in gx_checks() if next(iter(c.check_keys)).name == f"gx_{suite}"]
    context = build_asset_check_context(
        resources={"warehouse": DuckDBWarehouse(home=str(home)), "eventlake": EventlakeResource(home=str(home))}
    )
    return check(context)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("EVENTLAKE_DATA_DOCS_URL", "EVENTLAKE_JOB_DB_URL", "EVENTLAKE_WAREHOUSE", "EVENTLAKE_DUCKDB_PATH"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "home"


def test_a_failing_check_links_its_data_docs_page_and_names_the_failing_rows(home: Path) -> None:
    warehouse_with_bad_facts(home)
    result = run_check(home)
    assert result.passed is False
    metadata = {k: getattr(v, "value", v) for k, v in result.metadata.items()}

    # the Data Docs page of this run and the site's index, under the home
    page_url, index_url = metadata["data_docs"], metadata["data_docs_index"]
    site = home / "gx" / "data_docs"
    assert docs.local_path(index_url) == site / "index.html"
    assert docs.local_path(page_url).is_relative_to(site / "validations" / "marts_suite")
    page, index = page_text(page_url), page_text(index_url)
    assert "marts_suite" in page and docs.local_path(page_url).name == "fact_events.html"
    assert "expect_column_values_to_be_between" in page or "values must be greater than or equal to" in page
    # GX's table of the failing values with their rows' keys
    keys_row = re.search(r"Sampled Unexpected Values|Unexpected Value", page)
    assert keys_row, "no table of unexpected values on the page"
    for event_id in BAD_EVENTS.values():
        assert event_id in page
    assert "job-1" in page and "job_id" in page and "event_id" in page
    assert "marts_suite" in index
    assert Path(docs.local_path(page_url)).relative_to(site).as_posix() in index  # the index links the page

    # the failing rows' keys and the rule, in the check's metadata ...
    (failure,) = [f for f in metadata["failing_rows"] if f["column"] == "event_value"]
    assert failure["rule"] and failure["expectation"] == "expect_column_values_to_be_between"
    assert failure["unexpected_count"] == len(BAD_EVENTS)
    assert sorted((k["event_id"], k["job_id"], k["event_value"]) for k in failure["keys"]) == sorted(
        (event_id, f"job-{row % 2}", 9_999_999.0) for row, event_id in BAD_EVENTS.items()
    )
    # ... and in the stored result, with the page: what the dashboard reads
    (stored,) = quality.recent_results(f"sqlite:///{home / 'jobs.db'}")
    assert stored["data_docs"] == page_url and stored["data_docs_index"] == index_url
    (stored_failure,) = [r for r in stored["results"] if not r["success"]]
    assert stored_failure["failing_keys"] == failure["keys"]
    latest = quality.latest_data_docs(f"sqlite:///{home / 'jobs.db'}")
    assert set(latest) == {"marts_suite"} and latest["marts_suite"]["data_docs"] == page_url


def test_a_passing_check_links_its_page_too_and_the_index_lists_every_run(home: Path) -> None:
    warehouse_with_bad_facts(home)
    failed = run_check(home)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("update marts.fact_events set event_value = 1.0 where event_value > 1000000")
    passed = run_check(home)
    assert passed.passed and not failed.passed
    assert "failing_rows" not in passed.metadata
    first, second = failed.metadata["data_docs"].value, passed.metadata["data_docs"].value
    assert first != second
    index = page_text(passed.metadata["data_docs_index"].value)
    site = home / "gx" / "data_docs"
    for url in (first, second):
        assert docs.local_path(url).relative_to(site).as_posix() in index
    latest = quality.latest_data_docs(f"sqlite:///{home / 'jobs.db'}")
    assert latest["marts_suite"]["data_docs"] == second and latest["marts_suite"]["success"] is True


def test_chunks_make_one_page_with_the_merged_counts_and_keys(tmp_path: Path) -> None:
    first, second = stg_events_frame(), stg_events_frame()
    second["event_id"] = [f"x{i}" for i in range(len(second))]
    second["job_id"] = "j2"
    first.loc[5, "event_type"] = "refund"
    second.loc[[7, 8], "event_type"] = "refund"
    result = quality.run_suite_chunks(
        "staging_suite", [first, second], duplicates=lambda columns: (0, []), docs_root=str(tmp_path / "gx"), run_name="r1"
    )
    failure = next(r for r in result.failed if r["column"] == "event_type")
    assert failure["unexpected_count"] == 3 and failure["chunks"] == 2
    assert [(k["event_id"], k["job_id"]) for k in failure["failing_keys"]] == [("e5", "j1"), ("x7", "j2"), ("x8", "j2")]
    pages = list((tmp_path / "gx" / "data_docs" / "validations" / "staging_suite" / "r1").rglob("*.html"))
    assert [docs.local_path(result.data_docs)] == pages  # one page for the run, not one per chunk
    page = page_text(result.data_docs)
    assert "refund" in page and "x7" in page and "e5" in page
    # the page is built from the merged result, stored as GX JSON beside the site: totals over both chunks
    (stored,) = (tmp_path / "gx" / "validations" / "staging_suite" / "r1").rglob("*.json")
    gx_result = json.loads(stored.read_text())
    by_rule = {(r["expectation_config"]["type"], r["expectation_config"]["kwargs"].get("column")): r for r in gx_result["results"]}
    event_type = by_rule[("expect_column_values_to_be_in_set", "event_type")]
    assert event_type["success"] is False and event_type["result"]["unexpected_count"] == 3
    assert by_rule[("expect_column_values_to_not_be_null", "event_id")]["result"]["element_count"] == 80
    assert gx_result["statistics"]["unsuccessful_expectations"] == 1 and gx_result["meta"]["eventlake"]["chunks"] == 2


def test_keys_are_bounded_per_expectation() -> None:
    frame = stg_events_frame(200)
    frame["event_type"] = "refund"
    result = quality.run_suite("staging_suite", frame)
    failure = next(r for r in result.failed if r["column"] == "event_type")
    assert failure["unexpected_count"] == 200
    assert len(failure["failing_keys"]) == KEY_SAMPLE
    assert failure["failing_keys"][0] == {"event_type": "refund", "event_id": "e0", "job_id": "j1"}


def test_dimension_failures_are_keyed_by_their_natural_keys() -> None:
    from tests.quality.test_quality_suites import user_versions_frame

    frame = user_versions_frame()
    frame.loc[3, "user_id"] = None
    result = quality.run_suite("marts_dim_users_suite", frame)
    failure = next(r for r in result.failed if r["expectation"] == "expect_column_values_to_not_be_null")
    assert failure["failing_keys"] == [{"user_id": None, "user_sk": "d"}]


def test_a_site_that_cannot_be_built_does_not_fail_the_validation(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the site would go")
    bad = stg_events_frame()
    bad.loc[0, "event_id"] = None
    result = quality.run_suite("staging_suite", bad, docs_root=str(blocker))
    assert not result.success and result.data_docs is None
    assert [f["column"] for f in result.failed] == ["event_id"]
    assert any("could not build Data Docs" in r.getMessage() for r in caplog.records)


# -- dbt docs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transform_run(tmp_path_factory):
    """transform_job run once, as Dagster runs it (LOCAL: dbt build, the GX checks, dbt docs), on 3 events:
    (its settings, its result). The dbt docs tests reuse its warehouse and its runs' manifest and parse cache."""
    from datetime import UTC, datetime

    import pyarrow as pa
    from dagster import DagsterInstance

    from eventlake import lake
    from eventlake.definitions import build_definitions
    from eventlake.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        for variable in ("EVENTLAKE_DATA_DOCS_URL", "EVENTLAKE_DBT_DOCS", "EVENTLAKE_DBT_TARGET_DIR", "EVENTLAKE_ENV",
                         "EVENTLAKE_JOB_DB_URL"):
            mp.delenv(variable, raising=False)
        settings = Settings(home=tmp_path_factory.mktemp("transform") / "home")
        at = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
        table = lake.ensure_tables(lake.load_catalog(settings))["events"]
        records = [
            {
                "event_id": f"g{i}", "user_id": "u1", "event_type": "click", "event_timestamp": at, "event_value": 1.0,
                "product_id": None, "properties": None, "event_date": at.date(), "event_hour": at.hour,
                "job_id": "job-1", "ingested_at": datetime.now(UTC),
            }
            for i in range(3)
        ]
        table.append(pa.Table.from_pylist(records, schema=table.schema().as_arrow()))

        defs = build_definitions("LOCAL", home=str(settings.home))
        result = defs.resolve_job_def("transform_job").execute_in_process(
            instance=DagsterInstance.ephemeral(), raise_on_error=False
        )
        yield settings, result


def test_dbt_docs_are_generated_under_the_home_after_a_dbt_run(transform_run, monkeypatch: pytest.MonkeyPatch) -> None:
    import json as _json

    from dagster import Output

    from eventlake.quality.dbt_docs import DbtDocs, docs_dir, with_dbt_docs

    for variable in ("EVENTLAKE_DBT_TARGET_DIR", "EVENTLAKE_ENV", "EVENTLAKE_JOB_DB_URL"):
        monkeypatch.delenv(variable, raising=False)
    settings, _ = transform_run  # a warehouse built by dbt, with the runs' manifest and parse cache

    # what the transform's marts step does with its events: build the docs, link them
    (output,) = with_dbt_docs([Output(None, "fact_events", metadata={"dagster/row_count": 3})], settings)
    assert output.metadata["dagster/row_count"].value == 3
    link = output.metadata["dbt_docs"]
    built = DbtDocs(
        directory=docs_dir(settings), index=docs_dir(settings) / "index.html",
        static_index=docs_dir(settings) / "static_index.html", catalog=docs_dir(settings) / "catalog.json",
    )
    assert link.url == built.url

    assert built.directory == settings.home / "dbt" / "docs"
    assert built.index.is_file() and built.static_index.is_file() and built.url.startswith("file://")
    catalog = _json.loads(built.catalog.read_text())
    # the catalog holds the warehouse's real columns of the built models
    fact = next(node for key, node in catalog["nodes"].items() if key.endswith(".fact_events"))
    assert {"event_id", "job_id", "event_sk"} <= {c.lower() for c in fact["columns"]}
    manifest = _json.loads((built.directory / "manifest.json").read_text())
    fact_node = next(n for k, n in manifest["nodes"].items() if k == "model.eventlake.fact_events")
    assert fact_node["description"] and fact_node["depends_on"]["nodes"]  # descriptions and lineage
    assert "fact_events" in built.static_index.read_text()


def test_a_dbt_docs_failure_never_fails_the_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from dagster import Output

    from eventlake.quality import dbt_docs
    from eventlake.settings import Settings

    monkeypatch.delenv("EVENTLAKE_DBT_TARGET_DIR", raising=False)
    monkeypatch.delenv("EVENTLAKE_ENV", raising=False)
    # a warehouse file that is not a DuckDB database: the catalog query cannot run
    (tmp_path / "warehouse.duckdb").write_text("not a database")
    settings = Settings(home=tmp_path, duckdb_path=tmp_path / "warehouse.duckdb")
    raised: list[BaseException] = []
    real_generate = dbt_docs.generate_dbt_docs

    def generate(*args, **kwargs):  # the real dbt process; only what it raised is kept
        try:
            return real_generate(*args, **kwargs)
        except BaseException as exc:
            raised.append(exc)
            raise

    monkeypatch.setattr(dbt_docs, "generate_dbt_docs", generate)
    events = [Output(None, "fact_events", metadata={"dagster/row_count": 3})]
    assert dbt_docs.with_dbt_docs(events, settings) == events  # the step's events, unlinked
    (error,) = raised
    assert isinstance(error, RuntimeError) and "dbt docs generate" in str(error)
    assert any("dbt docs were not built" in r.getMessage() for r in caplog.records)
    # and when switched off (EVENTLAKE_DBT_DOCS=false), no dbt process runs at all
    off = settings.model_copy(update={"dbt_docs": False, "duckdb_path": tmp_path / "missing"})
    assert dbt_docs.with_dbt_docs(events, off) == events and len(raised) == 1


# -- in a transform run -----------------------------------------------------------------------


def test_a_transform_run_links_data_docs_from_its_checks_and_dbt_docs_from_the_marts(transform_run) -> None:
    """transform_job as Dagster runs it: every GX check's evaluation links its Data Docs page,
    and the marts' materializations link the dbt docs built at the end of the run."""
    settings, result = transform_run
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    for name in ("gx_staging_suite", "gx_marts_suite"):
        assert checks[name].passed, name
        page = docs.local_path(checks[name].metadata["data_docs"].value)
        assert page.is_file() and page.is_relative_to(settings.home / "gx" / "data_docs"), name
    fact = next(
        m for m in result.asset_materializations_for_node("dbt_marts") if m.asset_key.path[-1] == "fact_events"
    )
    dbt_docs = docs.local_path(fact.metadata["dbt_docs"].value)
    assert dbt_docs == settings.home / "dbt" / "docs" / "static_index.html" and dbt_docs.is_file()
    assert (settings.home / "dbt" / "docs" / "catalog.json").is_file()
    assert result.success


# -- S3 (PROD): the site and its stores in a bucket, on a real moto_server ----------------------

from tests.moto_server import fake_aws_credentials, moto_url  # noqa: E402, F401 - fixtures


def test_data_docs_are_published_to_an_s3_prefix(moto_url: str, fake_aws_credentials) -> None:  # noqa: F811
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_url)

    def read(url: str) -> str:  # the objects are private: read them as the bucket's owner
        assert url.startswith(f"{moto_url}/lake/"), url
        body = s3.get_object(Bucket="lake", Key=url[len(f"{moto_url}/lake/"):])["Body"].read()
        return html.unescape(body.decode("utf-8"))

    s3.create_bucket(Bucket="lake")
    bad = stg_events_frame()
    bad.loc[[2, 9], "event_type"] = "refund"
    first = quality.run_suite("staging_suite", bad, docs_root="s3://lake/gx", run_name="run-1", s3_endpoint_url=moto_url)
    second = quality.run_suite("staging_suite", stg_events_frame(), docs_root="s3://lake/gx", run_name="run-2", s3_endpoint_url=moto_url)

    prefix = f"{moto_url}/lake/gx/data_docs/"
    assert first.data_docs.startswith(prefix + "validations/staging_suite/run-1/")
    assert second.data_docs_index == prefix + "index.html"
    page = read(first.data_docs)
    assert "staging_suite" in page and "refund" in page and "e2" in page and "e9" in page
    index = read(second.data_docs_index)
    for result in (first, second):  # the index is built from the validations stored in the bucket
        assert result.data_docs[len(prefix):] in index
    names = {o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="gx/")["Contents"]}
    assert any(n.startswith("gx/validations/staging_suite/run-1/") and n.endswith(".json") for n in names)
    assert "gx/data_docs/static/styles/data_docs_default_styles.css" in names
