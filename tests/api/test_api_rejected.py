"""GET /api/v1/jobs/{job_id}/rejected: requests POSTed through the app, drained by the real consumer
into Iceberg, then read back page by page."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api import rejected_records
from api.main import create_app
from eventlake import lake
from eventlake.consumer import Consumer
from eventlake.settings import Settings

from .conftest import AUTH, assert_error_shape, make_settings

TS = "2026-01-01T00:00:00Z"


def event(i: int, **fields) -> dict:
    return {"event_id": f"e{i}", "user_id": "u1", "event_type": "view", "event_timestamp": TS, **fields}


#: record 1 breaks three rules, record 3 repeats record 0's key, record 4 has a string value.
MIXED = [
    event(0),
    {"event_id": "e1", "event_type": "nope", "event_timestamp": TS, "event_value": -5},
    event(2),
    event(0),
    event(4, event_value="x"),
]
#: 25 invalid records (no user_id) between valid ones, for paging.
MANY = [event(100 + i) if i % 2 else {"event_id": f"bad{i}", "event_type": "view", "event_timestamp": TS} for i in range(50)]
USERS_CSV = b"user_id,user_name,email,updated_at\nu1,Ann,a@x.org,2026-01-01T00:00:00Z\n,Bob,b@x.org,2026-01-01T00:00:00Z\n"


@dataclass
class Lake:
    client: TestClient
    settings: Settings
    mixed: str
    many: str
    clean: str
    users: str
    unconsumed: str

    def rejected(self, job_id: str, **params) -> dict:
        response = self.client.get(f"/api/v1/jobs/{job_id}/rejected", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()


def _post(client: TestClient, body: bytes, content_type: str = "application/json", dataset: str = "events") -> str:
    response = client.post(
        f"/api/v1/ingest?dataset={dataset}", content=body, headers={**AUTH, "Content-Type": content_type}
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Lake:
    settings = make_settings(tmp_path_factory.mktemp("rejected") / "home")
    with TestClient(create_app(settings)) as client:
        mixed = _post(client, json.dumps(MIXED).encode())
        many = _post(client, b"\n".join(json.dumps(r).encode() for r in MANY), "application/x-ndjson")
        clean = _post(client, json.dumps([event(200), event(201)]).encode())
        users = _post(client, USERS_CSV, "text/csv", "users")
        consumer = Consumer(settings)
        try:
            consumer.drain()
        finally:
            consumer.close()
        unconsumed = _post(client, json.dumps({"event_id": "late"}).encode())
        yield Lake(client, settings, mixed, many, clean, users, unconsumed)


def test_lists_each_rejected_record_with_its_violations(landed):
    page = landed.rejected(landed.mixed)
    assert (page["job_id"], page["dataset"], page["total"], page["next_offset"]) == (landed.mixed, "events", 3, None)
    items = page["items"]
    assert [i["record_index"] for i in items] == [1, 3, 4]  # 0-based positions in the request
    # raw is the record as it was sent
    assert [json.loads(i["raw"]) for i in items] == [MIXED[1], MIXED[3], MIXED[4]]
    assert [(v["field"], v["rule"]) for v in items[0]["violations"]] == [
        ("user_id", "required"), ("event_type", "allowed"), ("event_value", "min")
    ]
    assert all(v["message"] for v in items[0]["violations"])
    assert [(v["field"], v["rule"], v["value"]) for v in items[1]["violations"]] == [("event_id", "duplicate", "e0")]
    assert [(v["field"], v["rule"]) for v in items[2]["violations"]] == [("event_value", "type")]


def test_counts_add_up_with_the_rejected_list(landed):
    status = landed.client.get(f"/api/v1/status/{landed.mixed}", headers=AUTH).json()
    assert status["status"] == "COMPLETED"
    items = landed.rejected(landed.mixed)["items"]
    duplicates = [i for i in items if any(v["rule"] == "duplicate" for v in i["violations"])]
    assert (status["accepted_count"], status["rejected_count"], status["duplicate_count"]) == (2, 2, 1)
    assert status["duplicate_count"] == len(duplicates)
    assert status["rejected_count"] == len(items) - len(duplicates)  # invalid records only
    assert status["record_count"] == status["accepted_count"] + status["rejected_count"] + status["duplicate_count"]


def test_metrics_add_up_over_every_job(landed):
    jobs = landed.client.get("/api/v1/metrics").json()["jobs"]
    assert jobs["records_in_flight"] == 1  # the job posted after the drain
    assert jobs["records_received"] == (
        jobs["records_accepted"] + jobs["records_rejected"] + jobs["records_duplicates"] + jobs["records_in_flight"]
    )
    # MIXED: 1 duplicate; invalid: 2 in MIXED, 25 in MANY, 1 in USERS_CSV
    assert (jobs["records_rejected"], jobs["records_duplicates"]) == (28, 1)


def test_rule_filter(landed):
    assert [i["record_index"] for i in landed.rejected(landed.mixed, rule="duplicate")["items"]] == [3]
    required = landed.rejected(landed.mixed, rule="required")
    assert (required["rule"], required["total"], [i["record_index"] for i in required["items"]]) == ("required", 1, [1])
    assert landed.rejected(landed.mixed, rule="max") | {"rule": None} == {
        "job_id": landed.mixed, "dataset": "events", "rule": None, "total": 0, "limit": 100, "offset": 0,
        "next_offset": None, "items": [],
    }


def test_pages_follow_next_offset_to_the_end(landed):
    bad = [i for i, r in enumerate(MANY) if "user_id" not in r]
    assert len(bad) == 25
    seen, offsets, offset = [], [], 0
    while offset is not None:
        page = landed.rejected(landed.many, limit=10, offset=offset)
        assert page["total"] == 25 and page["limit"] == 10 and page["offset"] == offset
        offsets.append(offset)
        seen += [i["record_index"] for i in page["items"]]
        offset = page["next_offset"]
    assert offsets == [0, 10, 20]
    assert seen == bad  # every rejected record once, in record_index order
    assert [json.loads(i["raw"])["event_id"] for i in landed.rejected(landed.many, limit=2, offset=3)["items"]] == [
        "bad6", "bad8"
    ]
    past = landed.rejected(landed.many, offset=25)
    assert (past["total"], past["items"], past["next_offset"]) == (25, [], None)


def test_a_csv_record_is_kept_as_its_row(landed):
    (item,) = landed.rejected(landed.users)["items"]
    assert item["record_index"] == 1  # the second row after the header
    assert item["raw"] == ",Bob,b@x.org,2026-01-01T00:00:00Z"
    assert [(v["field"], v["rule"]) for v in item["violations"]] == [("user_id", "required")]


@pytest.mark.parametrize("job", ["clean", "unconsumed"])
def test_a_job_without_rejects_has_an_empty_list(landed, job):
    page = landed.rejected(getattr(landed, job))
    assert (page["total"], page["items"], page["next_offset"]) == (0, [], None)


def test_unknown_job_is_404(landed):
    response = landed.client.get("/api/v1/jobs/no-such-job/rejected", headers=AUTH)
    assert assert_error_shape(response, 404)["details"] == [{"job_id": "no-such-job"}]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "ten"}])
def test_bad_paging_is_400(landed, params):
    response = landed.client.get(f"/api/v1/jobs/{landed.mixed}/rejected", params=params, headers=AUTH)
    assert assert_error_shape(response, 400)["error"] == "invalid request"


class _RecordingCatalog:
    """A catalog whose tables remember every Arrow table their scans return."""

    def __init__(self, catalog) -> None:
        self.catalog = catalog
        self.results = []

    def load_table(self, identifier):
        table = self.catalog.load_table(identifier)
        recorder = self

        class Table:
            def scan(self, **kwargs):
                scan = table.scan(**kwargs)

                class Scan:
                    def to_arrow(self):
                        result = scan.to_arrow()
                        recorder.results.append(result)
                        return result

                return Scan()

        return Table()


def test_only_the_jobs_rows_reach_python(landed):
    catalog = _RecordingCatalog(lake.load_catalog(landed.settings))
    table = catalog.catalog.load_table(rejected_records.TABLE)
    assert table.scan().to_arrow().num_rows == 3 + 25 + 1  # three jobs' rejects in the table
    page = rejected_records.read_page(catalog, landed.mixed, limit=2, offset=0)
    assert page.total == 3 and [r["record_index"] for r in page.rows] == [1, 3]
    # the job filter is in the scans: the index scan returns the job's 3 rows, the page scan its 2
    assert [r.num_rows for r in catalog.results] == [3, 2]
    assert catalog.results[0].column_names == ["record_index"]  # no raw records read to count
