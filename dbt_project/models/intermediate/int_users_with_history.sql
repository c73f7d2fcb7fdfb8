{#
    SCD Type 2 history of users, built from every change row:
    - a change whose attributes equal the previous change of the same user is
      not a new version (identical consecutive versions collapse);
    - valid_from = the change's updated_at; valid_to = the next version's
      valid_from (null for the current version); is_current = valid_to is null.
    The whole history is rebuilt from the change log on each run: a late
    change row (older updated_at than one already seen) lands in the right
    place and re-cuts the neighbouring intervals.
#}
with

changes as (

    select * from {{ ref('stg_users') }}

),

compared as (

    select
        user_id,
        user_name,
        email,
        updated_at,
        job_id,
        ingested_at,
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
        ingested_at

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
        ingested_at

    from versions

)

select
    user_id,
    user_name,
    email,
    valid_from,
    valid_to,
    valid_to is null as is_current,
    version_number,
    job_id,
    ingested_at

from final
