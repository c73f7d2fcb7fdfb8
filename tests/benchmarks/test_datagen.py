"""The benchmark input: deterministic, cached, and carrying every kind of fault it claims."""

from __future__ import annotations

import csv
import io
import json

from benchmarks import contract, datagen


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = datagen.generate(300, 11, _dir(tmp_path / "a"))
    b = datagen.generate(300, 11, _dir(tmp_path / "b"))
    c = datagen.generate(300, 12, _dir(tmp_path / "c"))
    for fmt in ("ndjson", "csv"):
        name = a["files"][fmt]["name"]
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    assert a == b


def test_generated_files_are_reused(tmp_path):
    first, cached = datagen.ensure_dataset(tmp_path, 200, 3)
    assert not cached
    stamp = first.path("ndjson").stat().st_mtime_ns
    again, cached = datagen.ensure_dataset(tmp_path, 200, 3)
    assert cached and again.manifest == first.manifest
    assert again.path("ndjson").stat().st_mtime_ns == stamp
    first.path("csv").write_text("truncated")  # a damaged cache is regenerated
    _, cached = datagen.ensure_dataset(tmp_path, 200, 3)
    assert not cached


def test_shares_forms_and_fault_kinds(small_dataset):
    manifest = small_dataset.manifest
    events = manifest["events"]
    expected = manifest["expected"]
    assert expected["invalid_records"] == int(events * datagen.INVALID_SHARE)
    assert set(manifest["invalid_kinds"]) >= set(datagen.INVALID_KINDS)
    assert set(manifest["timestamp_forms"]) == {"iso_z", "iso_z_ms", "iso_offset", "epoch_ms"}
    assert expected["duplicates_dropped"] > 0
    assert expected["rows_out"] == events - expected["invalid_records"] - expected["duplicates_dropped"]
    assert expected["violations"] > expected["invalid_records"]  # some rows carry two violations
    assert sum(expected["violations_by_rule"].values()) == expected["violations"]


def test_ndjson_and_csv_hold_the_same_records(small_dataset):
    lines = small_dataset.path("ndjson").read_text().splitlines()
    rows = list(csv.DictReader(io.StringIO(small_dataset.path("csv").read_text())))
    assert len(lines) == len(rows) == small_dataset.events
    for line, row in zip(lines, rows):
        rec = json.loads(line)
        for name in contract.FIELD_NAMES:
            value = rec.get(name)
            cell = row[name]
            if value is None:
                assert cell == ""
            elif isinstance(value, str):
                assert cell == value
            else:
                assert json.loads(cell) == value


def test_head_records_keeps_the_csv_header(small_dataset):
    head = datagen.head_records(small_dataset.path("csv"), "csv", 5).decode().splitlines()
    assert head[0].split(",") == contract.FIELD_NAMES and len(head) == 6
    assert len(datagen.head_records(small_dataset.path("ndjson"), "ndjson", 5).splitlines()) == 5


def _dir(path):
    path.mkdir(parents=True)
    return path
