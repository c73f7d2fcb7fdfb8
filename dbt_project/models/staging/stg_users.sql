{#
    The user change log: one row per (user_id, updated_at). A change
    delivered twice keeps its first delivery, like events.
#}
with

source as (

    select * from {{ source('raw', 'users') }}

),

renamed as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(user_name as {{ dbt.type_string() }}) as user_name,
        cast(email as {{ dbt.type_string() }}) as email,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        cast(job_id as {{ dbt.type_string() }}) as job_id,
        {{ to_utc_timestamp('ingested_at') }} as ingested_at

    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id, updated_at
            order by ingested_at, job_id
        ) as delivery_rank

    from renamed

)

select
    user_id,
    user_name,
    email,
    updated_at,
    job_id,
    ingested_at

from ranked
where delivery_rank = 1
