{#
    Schema evolution (docs/schema_evolution.md): the optional fields a
    dataset's contract (platform/contracts.py) gained after these models were
    written reach the models without a model change.

    modelled_raw_columns(table_name): the raw columns the models name
      themselves: the contract's columns as the models were written. A
      column listed here is cast, renamed or dropped by a model; move a new
      field here when a model starts handling it by name.

    contract_added_columns(table_name): the other columns of
      source('raw', table_name), in table order: fields a contract added
      since. Nothing at parse time (no relation to ask yet), and none of the
      raw views' own columns (_snapshot_id, _sequence_number,
      source_snapshot_id).

    pass_added_columns(table_name, alias): ", alias.<column>" for each of
      them. Staging passes them through with their raw type, the events'
      downstream models (int_events_enriched, fact_events) select them
      again, and on_schema_change='append_new_columns' (incremental_config)
      adds them to the stored tables: rows stored before read null.
#}

{% macro modelled_raw_columns(table_name) -%}
    {%- set modelled = {
        'events': ['event_id', 'user_id', 'event_type', 'event_timestamp', 'event_value', 'product_id',
                   'properties', 'event_date', 'event_hour', 'job_id', 'ingested_at'],
        'users': ['user_id', 'user_name', 'email', 'updated_at', 'job_id', 'ingested_at'],
        'products': ['product_id', 'product_name', 'category', 'price', 'job_id', 'ingested_at'],
    } -%}
    {{ return(modelled[table_name]) }}
{%- endmacro %}

{% macro contract_added_columns(table_name) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set skip = modelled_raw_columns(table_name) + ['source_snapshot_id'] -%}
    {%- set added = [] -%}
    {%- for column in adapter.get_columns_in_relation(source('raw', table_name)) -%}
        {%- set name = column.name | lower -%}
        {%- if name not in skip and not name.startswith('_') -%}
            {%- do added.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(added) }}
{%- endmacro %}

{% macro pass_added_columns(table_name, alias) -%}
    {%- for name in contract_added_columns(table_name) %},
        {{ alias }}.{{ name }}
    {%- endfor -%}
{%- endmacro %}
