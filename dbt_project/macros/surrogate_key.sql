{#
    surrogate_key(["col_a", "col_b"]): md5 of the columns cast to text and
    joined with '-', nulls spelled '_null_' (the same recipe as
    dbt_utils.generate_surrogate_key, which we cannot install offline).
    Built from dbt's cross-database macros, so it renders on DuckDB and
    Snowflake alike.
#}
{% macro surrogate_key(field_list) -%}
    {%- set parts = [] -%}
    {%- for field in field_list -%}
        {%- do parts.append("coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), '_null_')") -%}
        {%- if not loop.last -%}
            {%- do parts.append("'-'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
