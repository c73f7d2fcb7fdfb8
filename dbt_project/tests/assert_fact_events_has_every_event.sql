-- reads several models; dagster-dbt attaches it as a check of fact_events
{{ config(meta={'dagster': {'ref': {'name': 'fact_events'}}}) }}

-- Every deduplicated event reaches fact_events exactly once: none vanish
-- (e.g. for lack of a user or product) and none are duplicated.
with

staged as (

    select event_id from {{ ref('stg_events') }}

),

facts as (

    select event_id, count(*) as copies
    from {{ ref('fact_events') }}
    group by event_id

)

select
    coalesce(staged.event_id, facts.event_id) as event_id,
    coalesce(facts.copies, 0) as copies
from staged
full outer join facts
    on facts.event_id = staged.event_id
where staged.event_id is null
    or facts.event_id is null
    or facts.copies <> 1
