{#
    One row per event (grain: event_id), with foreign keys to dim_users (the
    user version valid at event time, or the user's inferred member) and to
    dim_products (null when the event names no product).

    Incremental (delete+insert on event_sk). A run considers only:
    - events ingested after the table's watermark (new rows), and
    - the events of users whose change rows were ingested after it: a late
      user change can move an old event to another user version (or replace
      an inferred member), so those rows must be re-keyed;
    and of those writes only the rows that are new or whose keys changed.
    Product changes need no re-read: product_sk depends on product_id only.
    The watermark (loaded_through) is the latest ingested_at of stg_events
    and stg_users that the writing run saw; the lookback var re-considers
    loads that commit slightly out of ingested_at order (unchanged rows among
    them are still not rewritten).
#}
{{
    config(
        materialized='incremental',
        unique_key='event_sk',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

events as (

    select * from {{ ref('int_events_enriched') }}

),

load_watermark as (

    select max(ingested_at) as loaded_through
    from (
        select ingested_at from {{ ref('stg_events') }}
        union all
        select ingested_at from {{ ref('stg_users') }}
    ) as loads

),

{% if is_incremental() %}

previous_watermark as (

    -- an empty table (first run saw no events) has no watermark: read everything
    select
        coalesce(
            {{ dbt.dateadd('minute', -1 * var('incremental_lookback_minutes', 10), 'max(loaded_through)') }},
            cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
        ) as since
    from {{ this }}

),

changed_users as (

    select distinct user_id
    from {{ ref('stg_users') }}
    where ingested_at > (select since from previous_watermark)

),

{% endif %}

candidates as (

    select * from events

    {% if is_incremental() %}
    where ingested_at > (select since from previous_watermark)
        or user_id in (select user_id from changed_users)
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
        event_timestamp,
        event_date,
        event_hour,
        event_type,
        event_value,
        properties,
        ingested_at

    from candidates

)

select
    keyed.*,
    (select loaded_through from load_watermark) as loaded_through

from keyed

{% if is_incremental() %}
-- a candidate already stored with the same keys is unchanged: the first
-- delivery of an event never changes, so only its user version can move
left join {{ this }} as stored
    on stored.event_sk = keyed.event_sk
    and stored.user_sk = keyed.user_sk
where stored.event_sk is null
{% endif %}
