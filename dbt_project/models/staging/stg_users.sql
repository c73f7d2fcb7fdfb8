{#
    The user change log: one row per (user_id, updated_at). A change
    delivered twice keeps its first delivery, like events.

    Incremental like stg_events: only the raw rows that arrived since the
    last run are read, and a stored change is replaced only by a copy that
    was delivered before it.
#}
{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'updated_at'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

source as (

    select * from {{ raw_rows('users') }}

),

renamed as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(user_name as {{ dbt.type_string() }}) as user_name,
        cast(email as {{ dbt.type_string() }}) as email,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        cast(job_id as {{ dbt.type_string() }}) as job_id,
        {{ to_utc_timestamp('ingested_at') }} as ingested_at,
        {{ raw_lineage() }}

    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id, updated_at
            order by ingested_at, job_id, raw_sequence_number
        ) as delivery_rank

    from renamed

),

first_delivery as (

    select * from ranked where delivery_rank = 1

)

select
    first_delivery.user_id,
    first_delivery.user_name,
    first_delivery.email,
    first_delivery.updated_at,
    first_delivery.job_id,
    first_delivery.ingested_at,
    first_delivery.snapshot_id,
    first_delivery.raw_sequence_number,
    {{ loaded_at() }} as dbt_loaded_at

from first_delivery

{% if is_incremental() %}
left join {{ this }} as stored
    on stored.user_id = first_delivery.user_id
    and stored.updated_at = first_delivery.updated_at
where stored.user_id is null
    or {{ delivered_before('first_delivery', 'stored') }}
{% endif %}
