{#
    Each event with the product it concerns and the user version valid at
    the event time ([valid_from, valid_to) contains event_timestamp).
    An event earlier than the user's first known version gets that first
    version: the first change row records the user as already existing, and
    a client clock a little ahead of the user service must not orphan the
    event. Events whose user has no change row at all keep user columns
    null (user_resolution = 'no_user_record'); dim_users gives such users an
    inferred member so they still reach fact_events.
#}
with

events as (

    select * from {{ ref('stg_events') }}

),

user_versions as (

    select * from {{ ref('int_users_with_history') }}

),

products as (

    select * from {{ ref('stg_products') }}

),

joined as (

    select
        events.*,

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
        end as email,

        products.product_id is not null as is_product_known,
        products.product_name,
        products.category,
        products.price

    from events

    left join user_versions as at_event
        on at_event.user_id = events.user_id
        and events.event_timestamp >= at_event.valid_from
        and (at_event.valid_to is null or events.event_timestamp < at_event.valid_to)

    left join user_versions as first_version
        on first_version.user_id = events.user_id
        and first_version.version_number = 1
        and events.event_timestamp < first_version.valid_from

    left join products
        on products.product_id = events.product_id

)

select * from joined
