{#
    SCD Type 2 history of users, built from their change rows:
    - a change whose attributes equal the previous change of the same user is
      not a new version (identical consecutive versions collapse);
    - valid_from = the change's updated_at; valid_to = the next version's
      valid_from (null for the current version); is_current = valid_to is null.

    Incremental per user: a run rebuilds the whole history of each user with
    a change row loaded since the last run (delete+insert on user_id), from
    all of that user's change rows. So a late change row (older updated_at
    than one already seen) lands in the right place and re-cuts the
    neighbouring intervals, and users without news are not touched.
#}
{{ incremental_config('user_id') }}

with

{% if is_incremental() %}
changed_users as (

    select distinct user_id
    from {{ ref('stg_users') }}
    where dbt_loaded_at > {{ loaded_since() }}

),
{% endif %}

changes as (

    select * from {{ ref('stg_users') }}
    {{ incremental_where('user_id in (select user_id from changed_users)') }}

),

compared as (

    select
        user_id,
        user_name,
        email,
        updated_at,
        job_id,
        ingested_at,
        snapshot_id,
        row_number() over (partition by user_id order by updated_at) as change_number,
        lag(user_name) over (partition by user_id order by updated_at) as previous_user_name,
        lag(email) over (partition by user_id order by updated_at) as previous_email

    from changes

),

versions as (

    select
        user_id,
        user_name,
        email,
        updated_at as valid_from,
        job_id,
        ingested_at,
        snapshot_id

    from compared
    where change_number = 1
        or user_name is distinct from previous_user_name
        or email is distinct from previous_email

),

final as (

    select
        user_id,
        user_name,
        email,
        valid_from,
        lead(valid_from) over (partition by user_id order by valid_from) as valid_to,
        row_number() over (partition by user_id order by valid_from) as version_number,
        job_id,
        ingested_at,
        snapshot_id

    from versions

)

select
    final.*,
    final.valid_to is null as is_current,
    {{ loaded_at() }} as dbt_loaded_at

from final
