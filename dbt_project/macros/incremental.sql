{#
    Incremental building blocks shared by the models.

    raw_rows(table): the rows of raw.<table> a model must read.
      - Full refresh (or the first run): every row.
      - Incremental on DuckDB (LOCAL): only the rows that arrived after the
        newest raw sequence number the model has stored. The eventlake.dbt_raw
        plugin lists each raw table's live data files with the sequence number
        of the snapshot that added them; this macro asks it for the files
        added since and reads just those (a compaction's files are opened
        too, but only their rows that arrived after the watermark count).
      - Incremental elsewhere (Snowflake, PROD): rows ingested after the
        model's latest ingested_at, less var('incremental_lookback_minutes')
        for loads that commit slightly out of ingested_at order. Re-read rows
        are dropped by the models' own "first delivery wins" comparison.

    raw_lineage(): the lineage columns every staging model keeps:
      snapshot_id (the Iceberg snapshot that brought the row in) and
      raw_sequence_number (that snapshot's sequence number).

    loaded_at(): when this dbt invocation started (UTC); every incremental
      model stores it as dbt_loaded_at, so downstream models and the checks
      can tell which rows one run wrote.

    loaded_since(): in an incremental model, the newest dbt_loaded_at it has
      stored; downstream rows loaded after it are new to it.
#}

{% macro raw_rows(table_name) -%}
    {{ return(adapter.dispatch('raw_rows', 'eventlake')(table_name)) }}
{%- endmacro %}

{% macro duckdb__raw_rows(table_name) -%}
    {%- set src = source('raw', table_name) -%}
    {%- if is_incremental() and execute -%}
        {%- set since = run_query("select coalesce(max(raw_sequence_number), -1) from " ~ this).columns[0].values()[0] -%}
        {%- set files_rel = adapter.quote(src.schema) ~ '.' ~ adapter.quote(table_name ~ '__files') -%}
        {%- set files = run_query("select file_path from " ~ files_rel ~ " where sequence_number > " ~ since ~ " order by sequence_number").columns[0].values() -%}
        {{ adapter.quote(src.schema) }}.{{ adapter.quote(table_name ~ '__since') }}({{ since }}, [
        {%- for path in files -%}
            '{{ path | replace("'", "''") }}'{{ ", " if not loop.last }}
        {%- endfor -%}
        ]::varchar[])
    {%- else -%}
        {{ src }}
    {%- endif -%}
{%- endmacro %}

{% macro default__raw_rows(table_name) -%}
    {%- set src = source('raw', table_name) -%}
    {%- if is_incremental() -%}
        (
            select * from {{ src }}
            where ingested_at > (
                select coalesce(
                    {{ dbt.dateadd('minute', -1 * var('incremental_lookback_minutes', 10), 'max(ingested_at)') }},
                    cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
                )
                from {{ this }}
            )
        )
    {%- else -%}
        {{ src }}
    {%- endif -%}
{%- endmacro %}

{% macro raw_lineage() -%}
    {{ return(adapter.dispatch('raw_lineage', 'eventlake')()) }}
{%- endmacro %}

{% macro duckdb__raw_lineage() -%}
    cast(_snapshot_id as bigint) as snapshot_id,
    cast(_sequence_number as bigint) as raw_sequence_number
{%- endmacro %}

{% macro default__raw_lineage() -%}
    cast(null as bigint) as snapshot_id,
    cast(0 as bigint) as raw_sequence_number
{%- endmacro %}

{% macro loaded_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro loaded_since() -%}
    (
        select coalesce(max(dbt_loaded_at), cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
        from {{ this }}
    )
{%- endmacro %}

{#
    delivered_before(candidate, stored): true when the candidate row was
    delivered before the stored copy of the same key, so it replaces it. "First" is the
    order a full refresh uses: ingested_at, then job_id, then the raw
    sequence number, so the incremental path keeps the same row.
#}
{% macro delivered_before(candidate, stored) -%}
    (
        {{ candidate }}.ingested_at < {{ stored }}.ingested_at
        or ({{ candidate }}.ingested_at = {{ stored }}.ingested_at and {{ candidate }}.job_id < {{ stored }}.job_id)
        or ({{ candidate }}.ingested_at = {{ stored }}.ingested_at and {{ candidate }}.job_id = {{ stored }}.job_id
            and {{ candidate }}.raw_sequence_number < {{ stored }}.raw_sequence_number)
    )
{%- endmacro %}
