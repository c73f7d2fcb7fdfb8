-- reads several models; dagster-dbt attaches it as a check of fact_events
{{ config(meta={'dagster': {'ref': {'name': 'fact_events'}}}) }}

-- The user version a fact row (of the latest run, or every row with
-- full_checks) points at was valid when the event happened,
-- except for events older than the user's first version (which take the
-- first version) and inferred members (valid for all time).
with

facts as (

    select event_id, user_sk, event_timestamp from {{ ref('fact_events') }}
    where {{ new_rows_filter(ref('fact_events')) }}

),

users as (

    select
        user_sk,
        valid_from,
        valid_to,
        is_inferred,
        row_number() over (partition by user_id order by valid_from) as version_number

    from {{ ref('dim_users') }}

)

select facts.*
from facts
inner join users
    on users.user_sk = facts.user_sk
where not users.is_inferred
    and (
        (users.valid_to is not null and facts.event_timestamp >= users.valid_to)
        or (users.version_number > 1 and facts.event_timestamp < users.valid_from)
    )
