{#
    One row per event_id. The stream delivers at least once, so the same
    event can arrive in several loads: keep the copy delivered first
    (ingested_at, then job_id, then raw sequence number: deterministic).

    Incremental: a run reads only the raw rows that arrived since the last
    one (raw_rows) and anti-joins them on event_id against the rows already
    stored. A new copy replaces a stored one only if it was delivered first
    (a load that committed late), so the table always equals a full refresh.
#}
{{ incremental_config('event_id') }}

with

renamed as (

    -- one cast per raw column (jaffle-shop's renamed CTE): the same shape in every staging model, not the same columns
    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        {{ to_utc_timestamp('event_timestamp') }} as event_timestamp,
        cast(event_value as {{ type_double() }}) as event_value,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(properties as {{ dbt.type_string() }}) as properties,
        cast(event_date as date) as event_date,
        cast(event_hour as {{ dbt.type_int() }}) as event_hour,
        {{ delivery_columns() }}{{ pass_added_columns('events', 'source') }}

    from {{ raw_rows('events') }} as source

),

first_delivery as (

    {{ first_delivery('renamed', 'event_id') }}

)

select
    first_delivery.*,
    {{ loaded_at() }} as dbt_loaded_at

from first_delivery

{{ keep_new_deliveries('first_delivery', 'event_id') }}
