{#
    Each event with the user version valid at the event time
    ([valid_from, valid_to) contains event_timestamp).
    An event earlier than the user's first known version gets that first
    version: the first change row records the user as already existing, and
    a client clock a little ahead of the user service must not orphan the
    event. Events whose user has no change row at all keep user columns
    null (user_resolution = 'no_user_record'); dim_users gives such users an
    inferred member so they still reach fact_events.

    Incremental (delete+insert on event_id). A run considers the events
    staged since its last run and the events of users whose history changed
    since then (a late change can move an old event to another version), and
    writes only the rows that are new or whose user version changed. Product
    attributes are not copied here: they live in dim_products, so a product
    change re-keys no event.
#}
{{ incremental_config('event_id') }}

with

{{ since_cte() }}

{% if is_incremental() %}
changed_users as (

    select distinct user_id
    from {{ ref('int_users_with_history') }}
    where dbt_loaded_at > (select loaded_at from since)

),
{% endif %}

events as (

    select * from {{ ref('stg_events') }}
    {% if is_incremental() %}
    where dbt_loaded_at > (select loaded_at from since)
        or user_id in (select user_id from changed_users)
    {% endif %}

),

user_versions as (

    select * from {{ ref('int_users_with_history') }}
    {{ incremental_where('user_id in (select distinct user_id from events)') }}

),

joined as (

    select
        events.event_id,
        events.user_id,
        events.event_type,
        events.event_timestamp,
        events.event_value,
        events.product_id,
        events.properties,
        events.event_date,
        events.event_hour,
        events.job_id,
        events.ingested_at,
        events.snapshot_id{{ pass_added_columns('events', 'events') }},

        case
            when at_event.user_id is not null then 'valid_at_event_time'
            when first_version.user_id is not null then 'precedes_first_version'
            else 'no_user_record'
        end as user_resolution,

        case
            when at_event.user_id is not null then at_event.valid_from
            else first_version.valid_from
        end as user_version_valid_from,

        case
            when at_event.user_id is not null then at_event.user_name
            else first_version.user_name
        end as user_name,

        case
            when at_event.user_id is not null then at_event.email
            else first_version.email
        end as email

    from events

    left join user_versions as at_event
        on at_event.user_id = events.user_id
        and events.event_timestamp >= at_event.valid_from
        and (at_event.valid_to is null or events.event_timestamp < at_event.valid_to)

    left join user_versions as first_version
        on first_version.user_id = events.user_id
        and first_version.version_number = 1
        and events.event_timestamp < first_version.valid_from

)

select
    joined.*,
    {{ loaded_at() }} as dbt_loaded_at

from joined

-- a stored row is rewritten only when the event is new to this model (or
-- its staged copy was replaced) or its user version changed
{{ skip_unchanged(
    'joined',
    ['event_id', 'job_id', 'ingested_at', 'user_resolution'],
    not_distinct=['user_version_valid_from', 'user_name', 'email'],
) }}
