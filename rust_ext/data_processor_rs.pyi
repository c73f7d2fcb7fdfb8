"""data_processor_rs: eventlake's Rust processor.

Batches cross the boundary as Arrow data through the Arrow PyCapsule interface:
every function that returns a batch returns an object implementing
``__arrow_c_stream__`` (usable directly as ``pyarrow.table(obj)`` or
``polars.DataFrame(obj)``), and every function that takes a batch accepts any
object implementing ``__arrow_c_stream__`` or ``__arrow_c_array__``
(pyarrow Table/RecordBatch, polars DataFrame, or a previous result).

Raw batches (the output of the parsers) have:
  * ``_index``: int64, the 0-based index of the record in its input;
  * ``_raw``: utf8, the record's source text (the JSON object, or the CSV line);
  * one utf8 column per top-level field seen, holding the field's value as
    compact JSON text (strings keep their quotes; null/absent -> null).
    CSV cells are JSON strings; the schema metadata key ``eventlake.format``
    ("json" | "csv") tells validation to coerce CSV text to numbers/booleans.

Schemas and rules are JSON text (see ``eventlake.contracts``).
"""

from collections.abc import Sequence
from os import PathLike
from typing import Any, Literal, Protocol

__version__: str

class ArrowStreamExportable(Protocol):
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class ArrowArrayExportable(Protocol):
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...

ArrowInput = ArrowStreamExportable | ArrowArrayExportable

class Table(ArrowStreamExportable):
    """An Arrow table owned by Rust; hand it to pyarrow/polars without copying."""

    @property
    def num_rows(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...

# -- errors: every error carries details, never a bare string ----------------
class DataProcessorError(Exception):
    details: list[dict[str, Any]]

class ParseError(DataProcessorError):
    """Malformed input. ``line`` (1-based) and ``offset`` (byte) of the first problem."""

    line: int | None
    offset: int | None

class ValidationError(DataProcessorError): ...
class UnsupportedFormatError(DataProcessorError):
    format: str

class WriteError(DataProcessorError): ...

Format = Literal["json", "ndjson", "csv", "parquet"]

# -- parsing -------------------------------------------------------------------
def parse_json(data: bytes, *, strict: bool = True) -> Table:
    """Parse a JSON array, a single object or NDJSON into a raw batch.

    strict=True raises ParseError listing every malformed record (details:
    ``{"line", "offset", "message"}``); strict=False keeps going and puts
    unparseable records in the batch with ``_parse_error`` set.
    Non-UTF-8, over-large (> 2 GiB) or too deeply nested (> 128) input -> ParseError.
    """

def parse_csv(
    data: bytes, *, delimiter: str = ",", json_columns: Sequence[str] = ("properties",), strict: bool = True
) -> Table:
    """Parse CSV with a header row. ``json_columns`` hold JSON text (objects)."""

def parse_parquet(path_or_bytes: str | PathLike[str] | bytes) -> Table:
    """Read a Parquet file (e.g. an Iceberg data file) back as a typed Arrow table."""

def parse(data: bytes, format: str) -> Table:
    """Dispatch on format; anything but json/ndjson/csv/parquet -> UnsupportedFormatError."""

def split_payload(data: bytes, format: str, max_chunk_bytes: int) -> list[tuple[bytes, int]]:
    """Validate that ``data`` is well-formed and cut it into self-contained chunks.

    Used by the API before it acknowledges a request. JSON (array, object) and
    NDJSON come out as NDJSON chunks (one original object text per line); CSV
    chunks repeat the header. Each chunk is at most ``max_chunk_bytes`` unless a
    single record is larger. Returns ``[(chunk, record_count), ...]``.
    Raises ParseError (details list every malformed record: line, offset,
    message), including for an empty body or a JSON value that is not an object.
    """

# -- validation ----------------------------------------------------------------
class ValidationReport:
    @property
    def violations(self) -> Table:
        """record_index int64, field utf8, rule utf8, value utf8 (nullable), message utf8."""
    @property
    def valid_mask(self) -> list[bool]: ...
    @property
    def valid_count(self) -> int: ...
    @property
    def invalid_count(self) -> int: ...

def validate_schema(batch: ArrowInput, schema: str) -> ValidationReport:
    """Return *every* violation of every record; never stops at the first one.

    Rules: ``required``, ``type``, ``allowed``, ``min``/``max`` (NaN and
    infinity are type violations), ``max_length``, ``timestamp`` (ISO-8601 with
    zone or integer epoch ms; impossible calendar dates such as 2026-02-30 are
    rejected; offsets honoured), ``parse_error``.
    """

# -- transformation ------------------------------------------------------------
def transform_batch(batch: ArrowInput, rules: str, schema: str) -> Table:
    """Type a raw batch of *valid* records by ``schema`` and apply ``rules``.

    Output columns: the schema's fields in order (string->utf8, long->int64,
    double->float64, boolean->bool, timestamp->timestamp[us, UTC], date->date32,
    object->compact JSON utf8), then derived columns (e.g. event_date date32,
    event_hour int32), then ``_index``.
    """

def deduplicate(
    batch: ArrowInput, key: str = "event_id", seen: Sequence[str] | None = None
) -> tuple[Table, list[int]]:
    """Keep the first occurrence of each key (and drop keys in ``seen``).

    Returns (kept rows, ``_index`` values of the dropped duplicates).
    """

# -- the fused hot path --------------------------------------------------------
class ProcessResult:
    @property
    def valid(self) -> Table:
        """Typed, transformed, deduplicated rows (as transform_batch)."""
    @property
    def rejected(self) -> Table:
        """record_index int64, raw utf8, violations utf8 (JSON array of {field, rule, value, message})."""
    @property
    def record_count(self) -> int: ...
    @property
    def valid_count(self) -> int: ...
    @property
    def invalid_count(self) -> int: ...
    @property
    def duplicate_count(self) -> int:
        """Duplicates also appear in ``rejected`` with rule ``duplicate``."""

def process(
    data: bytes,
    format: str,
    schema: str,
    rules: str,
    *,
    seen: Sequence[str] | None = None,
) -> ProcessResult:
    """parse (lenient) -> validate -> drop invalid -> transform -> deduplicate, in one call.

    Invalid records never hide a later valid record with the same key. Uses all
    cores and releases the GIL; output order is the input order.
    """

# -- writing -------------------------------------------------------------------
def write_iceberg_parquet(
    batch: ArrowInput,
    location: str,
    iceberg_schema: str,
    partition_spec: str,
    *,
    target_file_size: int = 134217728,
    compression: Literal["zstd", "snappy"] = "zstd",
    compression_level: int = 3,
    file_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Write zstd Parquet data files under ``location`` (a local path or file:// URI).

    Columns are matched to the Iceberg schema (pyiceberg ``Schema.model_dump_json()``)
    by name; Parquet field ids are the Iceberg field ids. One or more files per
    partition value (``partition_spec``: pyiceberg ``PartitionSpec.model_dump_json()``;
    identity/day/hour/month/year transforms). Returns, per file, what an Iceberg
    fast-append needs: ``file_path``, ``partition`` ({field name: value}),
    ``record_count``, ``file_size_in_bytes``, ``column_sizes``, ``value_counts``,
    ``null_value_counts``, ``nan_value_counts``, ``lower_bounds``, ``upper_bounds``
    (bytes, Iceberg single-value serialization; strings truncated like
    pyiceberg's default ``truncate(16)``), ``split_offsets``.
    """
