{#
    Every timestamp leaving staging is a UTC wall-clock timestamp without a
    zone (DuckDB TIMESTAMP, Snowflake TIMESTAMP_NTZ). Converting once, here,
    keeps downstream comparisons and surrogate keys independent of the
    session time zone of whichever warehouse runs the models.
#}
{% macro to_utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'eventlake')(expression)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(expression) -%}
    cast(timezone('UTC', cast({{ expression }} as timestamp with time zone)) as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro snowflake__to_utc_timestamp(expression) -%}
    cast(convert_timezone('UTC', {{ expression }}) as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#
    valid_from of an inferred dimension member (a key seen in facts before
    any dimension row arrived): the member is valid for all time.
#}
{% macro inferred_member_valid_from() -%}
    cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}
