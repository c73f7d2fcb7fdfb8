{#
    64-bit floating point. dbt.type_float() renders FLOAT, which is 32-bit
    on DuckDB (REAL) though 64-bit on Snowflake; event values and prices
    need the double everywhere.
#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'eventlake')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro snowflake__type_double() -%}
    float
{%- endmacro %}
