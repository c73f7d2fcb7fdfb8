-- reads several models; dagster-dbt attaches it as a check of fact_events
{{ config(meta={'dagster': {'ref': {'name': 'fact_events'}}}) }}

-- Every event the latest staging run wrote reaches fact_events exactly once:
-- none vanish (e.g. for lack of a user or product) and none are duplicated.
-- (With full_checks: every staged event. The whole-table count per job is
-- also reconciled on every run by the fact_events_reconciliation check.)
with

staged as (

    select event_id from {{ ref('stg_events') }}
    where {{ new_rows_filter(ref('stg_events')) }}

),

facts as (

    select event_id, count(*) as copies
    from {{ ref('fact_events') }}
    where event_id in (select event_id from staged)
    group by event_id

)

select
    staged.event_id,
    coalesce(facts.copies, 0) as copies
from staged
left join facts
    on facts.event_id = staged.event_id
where facts.event_id is null
    or facts.copies <> 1
