{#
    Where dbt-snowflake puts the temporary relation of an incremental run
    (the adapter's documented extension point). Real Snowflake: unchanged,
    fully qualified. fakesnow (the Snowflake stand-in the tests and the PROD
    demo run; its server's account is `fakesnow`) maps temporary objects to
    DuckDB, which only accepts them unqualified; the session's current schema
    resolves them the same way. A run can also ask for it with
    --vars '{unqualified_tmp_relations: true}'.
#}
{% macro snowflake__resolve_incremental_tmp_relation(tmp_relation) %}
    {% if var('unqualified_tmp_relations', false) or target.account == 'fakesnow' %}
        {{ return(tmp_relation.include(database=false, schema=false)) }}
    {% endif %}
    {{ return(tmp_relation) }}
{% endmacro %}
