{#
    The user change log: one row per (user_id, updated_at). A change
    delivered twice keeps its first delivery, like events.

    Incremental like stg_events: only the raw rows that arrived since the
    last run are read, and a stored change is replaced only by a copy that
    was delivered before it.
#}
{{ incremental_config(['user_id', 'updated_at']) }}

with

renamed as (

    -- one cast per raw column (jaffle-shop's renamed CTE): the same shape in every staging model, not the same columns
    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(user_name as {{ dbt.type_string() }}) as user_name,
        cast(email as {{ dbt.type_string() }}) as email,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        {{ delivery_columns() }}{{ pass_added_columns('users', 'source') }}

    from {{ raw_rows('users') }} as source

),

first_delivery as (

    {{ first_delivery('renamed', ['user_id', 'updated_at']) }}

)

select
    first_delivery.*,
    {{ loaded_at() }} as dbt_loaded_at

from first_delivery

{{ keep_new_deliveries('first_delivery', ['user_id', 'updated_at']) }}
