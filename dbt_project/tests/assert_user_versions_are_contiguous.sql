-- SCD2 intervals of each user tile time without gaps or overlaps: a
-- version's valid_to is exactly the next version's valid_from, and only the
-- last version is current.
with

versions as (

    select
        user_id,
        valid_from,
        valid_to,
        is_current,
        lead(valid_from) over (partition by user_id order by valid_from) as next_valid_from

    from {{ ref('dim_users') }}

)

select *
from versions
where (next_valid_from is null and (valid_to is not null or not is_current))
    or (next_valid_from is not null and (valid_to is null or valid_to <> next_valid_from or is_current))
