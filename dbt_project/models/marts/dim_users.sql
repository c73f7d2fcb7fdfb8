{#
    Users dimension, SCD Type 2: one row per user version
    (int_users_with_history), keyed by user_sk = hash(user_id, valid_from).

    Inferred members: a user_id that appears in events but has no change row
    yet gets one row (is_inferred, valid for all time, attributes null) so
    its events keep a user_sk in fact_events instead of vanishing or carrying
    a null key. When the user's first change row arrives the inferred row is
    replaced by real versions and fact_events re-points those events.

    Incremental per user (delete+insert on user_id): a run rebuilds the rows
    of the users whose history changed since its last run and adds inferred
    members for the new events' unknown users; other users are not touched.
#}
{{ incremental_config('user_id') }}

with

{{ since_cte() }}

touched_users as (

    select user_id from {{ ref('int_users_with_history') }}
    {{ incremental_where('dbt_loaded_at > (select loaded_at from since)') }}

    union

    select user_id from {{ ref('stg_events') }}
    {{ incremental_where('dbt_loaded_at > (select loaded_at from since)') }}

),

versions as (

    select * from {{ ref('int_users_with_history') }}
    {{ incremental_where('user_id in (select user_id from touched_users)') }}

),

inferred as (

    select touched_users.user_id
    from touched_users
    left join (select distinct user_id from versions) as known_users
        on known_users.user_id = touched_users.user_id
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

    -- inferred members, as in dim_products: each dimension has its own typed nulls, so each writes its union
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
    members.*,
    {{ loaded_at() }} as dbt_loaded_at

from members
