"""data_processor_rs: eventlake's Rust processor.

Batches cross the boundary as Arrow data through the Arrow PyCapsule interface:
every function that returns a batch returns an object implementing
``__arrow_c_stream__`` (usable directly as ``pyarrow.table(obj)`` or
``polars.DataFrame(obj)``), and every function that takes a batch accepts any
object implementing ``__arrow_c_stream__`` or ``__arrow_c_array__``
(pyarrow Table/RecordBatch, polars DataFrame, or a previous result).

Raw batches (the output of the parsers) have:
  * ``_index``: int64, the 0-based index of the record in its input;
  * ``_raw``: utf8, the record's source text (the JSON object, or the CSV line
    without its line break; lossy UTF-8 for a record that is not UTF-8);
  * ``_parse_error``: utf8, only with ``strict=False``: null, or why the
    record could not be parsed (with its line and byte offset);
  * one utf8 column per top-level field seen (in order of first appearance),
    holding the field's value as compact JSON text (strings keep their quotes
    and escapes; objects/arrays without whitespace outside strings;
    null/absent -> null). A repeated key: the last one wins. A field named like
    a layout column gets a ``_field`` suffix; a NUL in a name is written ``\u0000``.
    CSV cells are JSON strings (an unquoted empty cell is null, a quoted ``""``
    the empty string); cells of ``json_columns`` holding valid JSON are kept as
    compact JSON. The schema metadata key ``eventlake.format`` ("json" | "csv")
    tells validation to coerce CSV text to numbers/booleans/timestamps.
A table may hold several record batches (one per slice of the input, built in
parallel); ``pyarrow.table(t)`` gives a chunked table without copying.

Records: a JSON document starting with ``[`` is one array of records;
anything else is a sequence of top-level values (one object, NDJSON, or
pretty-printed objects one after another). Every record must be an object. A
malformed record in a sequence ends at the end of the line it starts on (the
NDJSON rule) and parsing resumes on the next line; a malformed array element
is that element. Nesting deeper than 128, input over 2 GiB, or bytes that are
not UTF-8 inside a record are parse errors, never crashes.

Schemas and rules are JSON text (see ``eventlake.contracts``); unknown keys in
them are refused with ValidationError. Format names are case-insensitive.
"""

from collections.abc import Sequence
from os import PathLike
from typing import Any, Literal, Protocol, TypedDict

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
    def __len__(self) -> int: ...
    def __arrow_c_schema__(self) -> object: ...
    def to_pyarrow(self) -> Any:
        """``pyarrow.table(self)`` (zero-copy)."""

# -- errors: every error carries details, never a bare string ----------------
class DataProcessorError(Exception):
    """Base class. Raised as such for bad arguments (a missing key column, a
    non-positive ``max_chunk_bytes``, a bad delimiter) and internal errors."""

    details: list[dict[str, Any]]

class ParseError(DataProcessorError):
    """Malformed input. ``line`` (1-based) and ``offset`` (byte) of the first problem.

    ``details``: one ``{"line", "offset", "record", "message"}`` per malformed
    record (``record`` = its 0-based index), or one ``{"line", "offset",
    "message"}`` for a problem with the whole input (empty, too large, bad CSV
    header).
    """

    line: int | None
    offset: int | None

class ValidationError(DataProcessorError):
    """A bad schema/rules document (details: ``{"message"}``), or records that
    transform_batch cannot type (details: ``{"record_index", "field", "rule",
    "value", "message"}``, at most 1000)."""
class UnsupportedFormatError(DataProcessorError):
    format: str

class WriteError(DataProcessorError): ...

Format = Literal["json", "ndjson", "csv", "parquet"]

# -- parsing -------------------------------------------------------------------
def parse_json(data: bytes, *, strict: bool = True) -> Table:
    """Parse a JSON array, a single object or NDJSON into a raw batch.

    strict=True raises ParseError listing every malformed record (details:
    ``{"line", "offset", "record", "message"}``); strict=False keeps going and
    puts unparseable records in the batch with ``_parse_error`` set.
    Non-UTF-8, over-large (> 2 GiB) or too deeply nested (> 128) input -> ParseError.
    Empty input (only whitespace) -> ParseError; ``[]`` -> an empty table.
    Uses all cores and releases the GIL.
    """

def parse_csv(
    data: bytes, *, json_columns: Sequence[str], delimiter: str = ",", strict: bool = True
) -> Table:
    """Parse CSV (RFC 4180) with a header row. ``json_columns`` hold JSON text
    (objects; the contract's object fields, e.g. ``["properties"]``).

    Quoted cells may hold delimiters, ``""`` and line breaks; LF or CRLF;
    blank lines are skipped; a UTF-8 BOM is ignored. A record with the wrong
    number of cells, a quote inside an unquoted cell, an unterminated quote or
    non-UTF-8 bytes is malformed (strict -> ParseError; lenient ->
    ``_parse_error``). An empty/duplicate header name -> ParseError.
    """

def parse_parquet(path_or_bytes: str | PathLike[str] | bytes) -> Table:
    """Read a Parquet file (e.g. an Iceberg data file) back as a typed Arrow table.

    Field metadata (``PARQUET:field_id``) is kept. An unreadable file -> ParseError.
    """

def parse(data: bytes, format: str, *, json_columns: Sequence[str]) -> Table:
    """Dispatch on format (strict parsing; csv with ``json_columns`` as in parse_csv;
    parquet -> ``parse_parquet``); anything but json/ndjson/csv/parquet -> UnsupportedFormatError."""

def split_payload(data: bytes, format: str, max_chunk_bytes: int) -> list[tuple[bytes, int]]:
    """Validate that ``data`` is well-formed and cut it into self-contained chunks.

    Used by the API before it acknowledges a request. JSON (array, object) and
    NDJSON come out as NDJSON chunks (one original object text per line, each
    line ending in ``\n``; an object spanning several lines is compacted onto
    one); CSV chunks repeat the header line (``,`` delimiter). Each chunk is at
    most ``max_chunk_bytes`` unless a single record is larger. Returns
    ``[(chunk, record_count), ...]`` in input order. ``format`` "json" and
    "ndjson" accept every JSON layout; "parquet" or others -> UnsupportedFormatError.
    Raises ParseError (details list every malformed record: line, offset,
    record, message), including for an empty body, a body without records
    (``[]``, a CSV header alone) or a JSON value that is not an object.
    """

# -- validation ----------------------------------------------------------------
class Mask(ArrowArrayExportable):
    """A boolean Arrow array owned by Rust (Arrow PyCapsule array interface).

    ``pyarrow.array(mask)`` and ``polars.Series(mask)``
    take it without copying (then ``table.filter(pyarrow.array(mask))``).
    """

    def __len__(self) -> int: ...
    def to_pylist(self) -> list[bool]:
        """The mask as a Python list (copies; for small batches and tests)."""
    def to_pyarrow(self) -> Any:
        """A pyarrow.BooleanArray (zero-copy)."""

class ValidationReport:
    @property
    def violations(self) -> Table:
        """record_index int64, field utf8, rule utf8, value utf8 (nullable), message utf8."""
    @property
    def valid_mask(self) -> Mask:
        """One bool per record, true when it has no violation."""
    @property
    def valid_count(self) -> int: ...
    @property
    def invalid_count(self) -> int: ...

def validate_schema(batch: ArrowInput, schema: str) -> ValidationReport:
    """Return *every* violation of every record; never stops at the first one.

    Rules: ``required`` (absent or null; no other rule is checked then),
    ``type``, ``allowed``, ``min``/``max`` (NaN and infinity are type
    violations), ``max_length``/``min_length`` (characters), ``timestamp``
    (RFC 3339 ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±hh:mm)`` or integer epoch ms;
    impossible calendar dates such as 2026-02-30 and naive timestamps are
    rejected; offsets honoured; a non-integer number or other JSON kind is a
    ``type`` violation), ``date`` (``YYYY-MM-DD``), ``parse_error`` (field
    ``_record``, value = the raw record).

    ``value`` is the offending value as text: a string's own text, anything
    else compact JSON (at most 1 KiB); null for ``required``. Violations are
    in record order, then schema field order. ``record_index`` is the batch's
    ``_index`` (or the row number when it has none).

    The batch may be a raw batch (cells are JSON text; CSV raw batches coerce
    strings: numbers, ``true``/``false``/``1``/``0``, digits-only timestamps =
    epoch ms, JSON text for objects) or any other table (plain strings are
    coerced the same way; typed Arrow columns are read through their text form).
    Runs in parallel and releases the GIL.
    """

# -- transformation ------------------------------------------------------------
def transform_batch(batch: ArrowInput, rules: str, schema: str) -> Table:
    """Type a raw batch of *valid* records by ``schema`` and apply ``rules``.

    Output columns: the schema's fields in order (string->utf8, long->int64,
    double->float64, boolean->bool, timestamp->timestamp[us, UTC], date->date32,
    object->compact JSON utf8), then derived columns (e.g. event_date date32,
    event_hour int32, UTC), then ``_index`` (int64). Arrow nullability follows
    ``required``; derived columns are non-null when their source is required.
    ``defaults`` fill missing/null optional fields. Any record that does not
    validate -> ValidationError listing its violations (filter with
    ``validate_schema(...).valid_mask`` first). One output batch per slice of
    the input.
    """

def deduplicate(
    batch: ArrowInput, key: str, seen: Sequence[str] | None = None
) -> tuple[Table, list[int]]:
    """Keep the first occurrence of each key (and drop keys in ``seen``).

    Returns (kept rows, ``_index`` values of the dropped duplicates, or row
    numbers when the batch has no ``_index``). Rows whose key is null are kept.
    In a raw batch a JSON-string key is compared by its decoded text; other
    key columns by their text form. A missing key column -> DataProcessorError.
    """

# -- the fused hot path --------------------------------------------------------
class ProcessResult:
    @property
    def valid(self) -> Table:
        """Typed, transformed, deduplicated rows (as transform_batch)."""
    @property
    def rejected(self) -> Table:
        """record_index int64, raw utf8, violations utf8 (JSON array of {field, rule, value, message}).

        Sorted by record_index: records that failed to parse (rule
        ``parse_error``, field ``_record``, message with line and offset),
        records with violations (all of them), and duplicates (rule
        ``duplicate``, value = the key, message "duplicate of record N" or
        "already processed in an earlier batch").
        """
    @property
    def record_count(self) -> int: ...
    @property
    def valid_count(self) -> int: ...
    @property
    def invalid_count(self) -> int: ...
    @property
    def duplicate_count(self) -> int:
        """Duplicates also appear in ``rejected`` with rule ``duplicate``.

        ``record_count == valid_count + invalid_count + duplicate_count``.
        """

class KeyIndex:
    """Keys already stored in a table within a window, with the job that
    stored each and the day it was stored, kept in Rust across ``process()``
    calls (``eventlake.dedup_index`` loads and maintains one per table).

    Two layers: *committed* keys (the table holds them) and *pending* keys
    (a ``process(..., index=)`` call kept them; its commit has not landed).
    Pass it to ``process(..., index=, job_id=, day=)``: records whose key
    another job stored, or that this pass already kept, are duplicates; the
    keys kept are added as pending until ``commit_pending()`` (the commit
    landed) or ``rollback_pending()``. Safe to share between threads (a lock
    inside); ``len(index)`` is the number of committed keys.
    """

    def __init__(self) -> None: ...
    def add_table(self, table: ArrowInput, key: str, job: str, stored_at: str) -> int:
        """Add the keys of rows a table holds, as committed: the columns named
        ``key`` (text: the key), ``job`` (text: the job that stored the row;
        the first job to store a key stays its origin) and ``stored_at``
        (timestamp: the day it was stored). Rows whose key is null are
        skipped. Returns the number of keys read. A missing column, or one
        that cannot be cast to text/timestamp -> DataProcessorError. Releases
        the GIL."""
    def commit_pending(self) -> int:
        """Promote the pending keys to committed (the pass committed); returns how many."""
    def rollback_pending(self) -> int:
        """Forget the pending keys (the pass did not commit); returns how many."""
    def evict_before(self, day: int) -> int:
        """Drop committed keys stored before ``day`` (days since 1970-01-01); returns how many.
        Releases the GIL."""
    def clear_committed(self) -> None:
        """Forget the committed keys (before loading them again); pending keys stay."""
    def pending_conflicts(self) -> int:
        """Pending keys that the committed layer now holds from another job (a
        concurrent writer stored them after this pass checked its records)."""
    def memory_bytes(self) -> int:
        """Bytes held by both layers' hash tables."""
    @property
    def pending_count(self) -> int:
        """Keys held as pending."""
    def __len__(self) -> int: ...

def process(
    data: bytes,
    format: str,
    schema: str,
    rules: str,
    *,
    seen: Sequence[str] | None = None,
    index: KeyIndex | None = None,
    job_id: str | None = None,
    jobs: Sequence[tuple[int, str]] | None = None,
    day: int = 0,
) -> ProcessResult:
    """parse (lenient) -> validate -> drop invalid -> transform -> deduplicate, in one call.

    ``format``: "ndjson", "json" (any JSON layout) or "csv" (``,``; object
    fields read as JSON text); "parquet" and others -> UnsupportedFormatError.
    Empty input -> a result with no records. The key is the schema's ``key``
    (no deduplication when it is null); ``seen`` drops keys already processed
    in earlier batches. Invalid records never hide a later valid record with
    the same key. Uses all cores and releases the GIL; output order is the
    input order. Raises only for a bad schema/rules (ValidationError), a bad
    format, a bad CSV header or input over 2 GiB (ParseError).

    With ``index``, the job the records belong to (``job_id``, or ``jobs``:
    ``[(first record index, job id), ...]`` for an input that joins the
    chunks of several jobs) and ``day`` (days since 1970-01-01, the day the
    kept keys are stored): keys the index holds from another job, or pending
    from earlier in the pass, are duplicates too, and the keys kept are
    added to the index as pending. ``index`` without exactly one of
    ``job_id`` and a non-empty ``jobs`` -> DataProcessorError.
    """

# -- writing -------------------------------------------------------------------
class DataFileMetadata(TypedDict):
    """One data file written by ``write_iceberg_parquet``: exactly the
    arguments of an Iceberg fast-append ``DataFile`` (see that function)."""

    file_path: str
    partition: dict[str, int | str | float | bool | bytes | None]
    record_count: int
    file_size_in_bytes: int
    column_sizes: dict[int, int]
    value_counts: dict[int, int]
    null_value_counts: dict[int, int]
    nan_value_counts: dict[int, int]
    lower_bounds: dict[int, bytes]
    upper_bounds: dict[int, bytes]
    split_offsets: list[int]

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
) -> list[DataFileMetadata]:
    """Write Parquet data files of an Iceberg table under ``location`` (a local path or file:// URI).

    Columns are matched to the Iceberg schema (pyiceberg ``Schema.model_dump_json()``)
    by name and cast to the Iceberg types (timestamptz -> timestamp[us, UTC],
    date -> date32, int -> int32, ...); other columns (e.g. ``_index``) are
    ignored, a missing optional column is written as nulls. A missing required
    column, nulls in a required column or an impossible cast -> WriteError
    (details: ``{"field", "field_id", "rule": "required" | "type", "message", ...}``).
    Nested Iceberg types and bucket/truncate transforms -> WriteError.

    Parquet field ids are the Iceberg field ids; every column chunk is
    compressed (zstd at ``compression_level``, or snappy). Rows are split by
    partition value (``partition_spec``: pyiceberg ``PartitionSpec.model_dump_json()``;
    identity/year/month/day/hour/void) and files roll once they reach
    ``target_file_size`` bytes. Files are named
    ``<location>/data/<field>=<value>/.../<file_prefix or "data">-<uuid4>.parquet``
    (e.g. ``event_timestamp_day=2026-11-25``). Empty input writes nothing.
    Releases the GIL; partitions and columns are encoded in parallel.

    Returns one dict per file (partitions sorted by value, then files in write
    order), with exactly the arguments of an Iceberg fast-append ``DataFile``:

    * ``file_path``: str, in the scheme of ``location``;
    * ``partition``: dict[str, int | str | float | bool | bytes | None], partition
      field name -> value in Iceberg's internal representation (day/hour/month/year
      ordinals since 1970 as int; identity on date -> days, on timestamp -> micros);
    * ``record_count``, ``file_size_in_bytes``: int;
    * ``column_sizes``, ``value_counts``, ``null_value_counts``: dict[int, int] by field id;
    * ``nan_value_counts``: dict[int, int] for float/double fields;
    * ``lower_bounds``, ``upper_bounds``: dict[int, bytes], Iceberg single-value
      serialization; strings/binary truncated to 16 like pyiceberg's default
      ``truncate(16)`` (the upper bound incremented, or absent when impossible);
    * ``split_offsets``: list[int], the row groups' start offsets, ascending.

    The metrics come from the footer just written; they equal what pyiceberg's
    ``parquet_file_to_data_file`` derives by re-reading the file.
    """
