-- One row: the coverage of the loaded events (metrics.md v2 "Coverage"). The coverage
-- start is the first day (reporting time zone) that holds a loaded current event, up
-- to the as-of date; a period is covered when it lies wholly between the coverage start
-- and the as-of date (period_start >= coverage_start_date and period_end <=
-- as_of_date). Null coverage start: no event loaded (an empty warehouse).

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

first_event as (

    select min(event_date) as coverage_start_date
    from {{ ref('stg_events') }}
    where event_date <= (select as_of_date from as_of)

)

select
    cast(first_event.coverage_start_date as date) as coverage_start_date,
    cast(as_of.as_of_date as date) as as_of_date
from first_event
cross join as_of
