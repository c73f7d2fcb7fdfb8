{#
    The building blocks the incremental models share.

    incremental_config(unique_key): the config every incremental model uses
      (delete+insert on unique_key, new columns appended).

    delivery_columns(): the delivery columns every staging model keeps from
      its raw rows: job_id, ingested_at (UTC) and the lineage (raw_lineage).

    first_delivery(relation, keys, latest=false): one row per key of
      relation, the copy delivered first (ingested_at, then job_id, then the
      raw sequence number), or with latest=true the one delivered last.
      Selects relation's columns only (qualify, which DuckDB and Snowflake
      both have, keeps the rank out), so a model can select alias.*.

    keep_new_deliveries(alias, keys, latest=false): in an incremental run,
      the anti-join against the stored rows: keeps alias's rows whose key is
      new, or whose copy replaces the stored one (delivered before it, or
      with latest=true after it). Nothing on a full refresh.

    skip_unchanged(alias, equal, not_distinct=[]): in an incremental run,
      the anti-join that drops alias's rows already stored unchanged: equal
      on every column of equal, not distinct on those of not_distinct.

    since_cte(): in an incremental run, the CTE "since," holding the newest
      dbt_loaded_at this model has stored (loaded_since) as loaded_at.

    incremental_where(condition): "where <condition>" in an incremental run,
      nothing on a full refresh.
#}

{% macro incremental_config(unique_key) -%}
    {{ config(
        materialized='incremental',
        unique_key=unique_key,
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    ) }}
{%- endmacro %}

{% macro delivery_columns() -%}
    cast(job_id as {{ dbt.type_string() }}) as job_id,
        {{ to_utc_timestamp('ingested_at') }} as ingested_at,
        {{ raw_lineage() }}
{%- endmacro %}

{% macro first_delivery(relation, keys, latest=false) -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set direction = ' desc' if latest else '' -%}
    select * from {{ relation }}
    qualify row_number() over (
        partition by {{ keys | join(', ') }}
        order by ingested_at{{ direction }}, job_id{{ direction }}, raw_sequence_number{{ direction }}
    ) = 1
{%- endmacro %}

{% macro keep_new_deliveries(alias, keys, latest=false) -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- if is_incremental() %}
left join {{ this }} as stored
    on {% for key in keys %}{{ "\n    and " if not loop.first }}stored.{{ key }} = {{ alias }}.{{ key }}{% endfor %}
where stored.{{ keys[0] }} is null
    or {{ delivered_before('stored', alias) if latest else delivered_before(alias, 'stored') }}
    {%- endif %}
{%- endmacro %}


{% macro skip_unchanged(alias, equal, not_distinct=[]) -%}
    {%- if is_incremental() %}
left join {{ this }} as stored
    on {% for column in equal %}{{ "\n    and " if not loop.first }}stored.{{ column }} = {{ alias }}.{{ column }}{% endfor %}
    {%- for column in not_distinct %}
    and stored.{{ column }} is not distinct from {{ alias }}.{{ column }}
    {%- endfor %}
where stored.{{ equal[0] }} is null
    {%- endif %}
{%- endmacro %}

{% macro since_cte() -%}
    {%- if is_incremental() %}
since as (

    select {{ loaded_since() }} as loaded_at

),
    {%- endif %}
{%- endmacro %}

{% macro incremental_where(condition) -%}
    {%- if is_incremental() %}where {{ condition }}{% endif -%}
{%- endmacro %}
