{#
    Users dimension, SCD Type 2: one row per user version
    (int_users_with_history), keyed by user_sk = hash(user_id, valid_from).

    Inferred members: a user_id that appears in events but has no change row
    yet gets one row (is_inferred, valid for all time, attributes null) so
    its events keep a user_sk in fact_events instead of vanishing or carrying
    a null key. When the user's first change row arrives the inferred row is
    replaced by real versions and fact_events re-points those events (its
    incremental filter re-reads the events of users whose changes arrived).

    Materialized as a full rebuild, not incremental: a new version changes
    the valid_to and is_current of the previous one, and rebuilding the small
    dimension from the complete change log is both correct and idempotent.
#}
with

versions as (

    select * from {{ ref('int_users_with_history') }}

),

event_users as (

    select distinct user_id from {{ ref('stg_events') }}

),

known_users as (

    select distinct user_id from versions

),

inferred as (

    select event_users.user_id
    from event_users
    left join known_users
        on known_users.user_id = event_users.user_id
    where known_users.user_id is null

),

members as (

    select
        user_id,
        user_name,
        email,
        valid_from,
        valid_to,
        is_current,
        false as is_inferred

    from versions

    union all

    select
        user_id,
        cast(null as {{ dbt.type_string() }}) as user_name,
        cast(null as {{ dbt.type_string() }}) as email,
        {{ inferred_member_valid_from() }} as valid_from,
        cast(null as {{ dbt.type_timestamp() }}) as valid_to,
        true as is_current,
        true as is_inferred

    from inferred

)

select
    {{ surrogate_key(['user_id', 'valid_from']) }} as user_sk,
    user_id,
    user_name,
    email,
    valid_from,
    valid_to,
    is_current,
    is_inferred

from members
