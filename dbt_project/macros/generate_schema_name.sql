{#
    Models land in schemas named exactly as configured (+schema: staging /
    intermediate / marts), not "<target schema>_<custom>" as dbt does by
    default: the dashboard and the quality checks read marts.fact_events on
    every target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
