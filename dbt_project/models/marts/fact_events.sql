{#
    One row per event (grain: event_id), with foreign keys to dim_users (the
    user version valid at event time, or the user's inferred member) and to
    dim_products (null when the event names no product), and its lineage:
    job_id (the ingestion job) and snapshot_id (the raw Iceberg snapshot
    that brought it in).

    Incremental (delete+insert on event_sk). A run considers only the rows
    int_events_enriched wrote since this model's last run (new events, and
    events a late user change re-keyed), and of those writes only the rows
    that are new or whose keys changed. Product changes need no re-read:
    product_sk depends on product_id only. loaded_through is the latest
    ingested_at among the rows the writing run considered.
#}
{{ incremental_config('event_sk') }}

with

candidates as (

    select * from {{ ref('int_events_enriched') }}
    {% if is_incremental() %}
    where dbt_loaded_at > {{ loaded_since() }}
    {% endif %}

),

keyed as (

    select
        {{ surrogate_key(['event_id']) }} as event_sk,
        {{ surrogate_key(['user_id', 'coalesce(user_version_valid_from, ' ~ inferred_member_valid_from() ~ ')']) }} as user_sk,
        case
            when product_id is not null then {{ surrogate_key(['product_id']) }}
        end as product_sk,
        event_id,
        job_id,
        snapshot_id,
        event_timestamp,
        event_date,
        event_hour,
        event_type,
        event_value,
        properties,
        ingested_at{{ pass_added_columns('events', 'candidates') }}

    from candidates

)

select
    keyed.*,
    (select max(ingested_at) from candidates) as loaded_through,
    {{ loaded_at() }} as dbt_loaded_at

from keyed

-- a candidate already stored with the same keys and delivery is unchanged
{{ skip_unchanged('keyed', ['event_sk', 'user_sk', 'job_id', 'ingested_at']) }}
