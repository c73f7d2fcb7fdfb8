{#
    One row per event_id. The stream delivers at least once, so the same
    event can arrive in several loads: keep the copy ingested first (ties
    broken by job_id so the choice is deterministic).
#}
with

source as (

    select * from {{ source('raw', 'events') }}

),

renamed as (

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
        cast(job_id as {{ dbt.type_string() }}) as job_id,
        {{ to_utc_timestamp('ingested_at') }} as ingested_at

    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by ingested_at, job_id
        ) as delivery_rank

    from renamed

)

select
    event_id,
    user_id,
    event_type,
    event_timestamp,
    event_value,
    product_id,
    properties,
    event_date,
    event_hour,
    job_id,
    ingested_at

from ranked
where delivery_rank = 1
