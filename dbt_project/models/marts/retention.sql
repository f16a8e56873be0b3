-- depends_on: {{ ref('stg_users') }}, {{ ref('stg_events') }}, {{ ref('int_user_activity_days') }}
-- Retention, version 2 (metrics.md v2 "Retention, version 2", "Coverage"), driven by
-- the definitions of var `retention` (config/settings.yaml metrics.retention; no SQL
-- per definition: this model loops over them). Per definition, cohort grain, cohort and
-- period: cohort_size and retained_users, per creator (start and return with that
-- creator's events) plus creator_id = '__all__' (all of the user's events). A signup
-- start has no creator: its definitions have '__all__' rows only.
--
-- Cohort entries: first_time, one per user (the period of their first start);
-- recurring, one per user and period with a start (its first start in the period).
-- on: retained in period k when a return falls in period c + k, at or after the start
-- day (signup start: any return in the signup period counts for k = 0, version 1's
-- rule, so the signup definition equals retention_cohorts). on_or_after: a return in
-- c + k or any later complete period. brackets: period = the bracket's number (1, 2,
-- ...); retained when a return falls on a day offset in [a, b] after the start day.
-- Cells not wholly covered (metrics.md v2 "Coverage") have retained_users and
-- retention_rate null, never 0.

{%- set definitions = insights_warehouse.retention_definitions() %}
{%- set grains = [] %}
{%- for d in definitions if d.mode != 'brackets' and d.grain not in grains %}{% do grains.append(d.grain) %}{% endfor %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

coverage as (

    select coverage_start_date from {{ ref('int_coverage') }}

),

{%- set any_signup = definitions | selectattr('start', 'equalto', 'signup') | list | length > 0 %}
{%- if grains %}

{# Every period of the grains in use from the earliest possible cohort (first signup
   or coverage start) to the one holding the as-of date. #}
first_day as (

    select
        {%- if any_signup %}
        case
            when (select min(signup_date) from {{ ref('stg_users') }}) < coverage.coverage_start_date
                or coverage.coverage_start_date is null
                then (select min(signup_date) from {{ ref('stg_users') }})
            else coverage.coverage_start_date
        end as first_day
        {%- else %}
        coverage.coverage_start_date as first_day
        {%- endif %}
    from coverage

),

calendar_days as (

    {{ insights_warehouse.date_spine(
        '(select first_day from first_day)',
        '(select as_of_date from as_of)'
    ) }}

),

calendar_periods as (

    {{ insights_warehouse.calendar_periods(grains) }}

),
{%- endif %}
{%- for d in definitions %}
{%- set i = loop.index %}
{%- set g = d.grain %}

{# ---- definition {{ d.name }} ---- #}
d{{ i }}_starts as (
    {%- if d.start == 'signup' %}

    select
        cast('__all__' as {{ dbt.type_string() }}) as creator_id,
        user_id,
        signup_date as start_date
    from {{ ref('stg_users') }}
    where signup_date <= (select as_of_date from as_of)
    {%- else %}

    select creator_id, user_id, event_date as start_date
    from {{ ref('stg_events') }}
    where user_id is not null
      and creator_id is not null
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.selector_predicate(d.start) }}

    union all

    select
        cast('__all__' as {{ dbt.type_string() }}) as creator_id,
        user_id,
        event_date as start_date
    from {{ ref('stg_events') }}
    where user_id is not null
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.selector_predicate(d.start) }}
    {%- endif %}

),

d{{ i }}_returns as (
    {%- if d['return'] == 'any_active' %}

    select creator_id, user_id, activity_date as return_date
    from {{ ref('int_user_activity_days') }}
    where activity_date <= (select as_of_date from as_of)
    {%- else %}

    select distinct creator_id, user_id, event_date as return_date
    from {{ ref('stg_events') }}
    where user_id is not null
      and creator_id is not null
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.selector_predicate(d['return']) }}

    union all

    select distinct
        cast('__all__' as {{ dbt.type_string() }}) as creator_id,
        user_id,
        event_date as return_date
    from {{ ref('stg_events') }}
    where user_id is not null
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.selector_predicate(d['return']) }}
    {%- endif %}

),

d{{ i }}_entries as (
    {%- if d.cohort == 'first_time' %}

    select
        creator_id,
        user_id,
        {{ insights_warehouse.period_start('min(start_date)', g) }} as cohort_start,
        min(start_date) as start_date
    from d{{ i }}_starts
    group by creator_id, user_id
    {%- else %}

    select
        creator_id,
        user_id,
        {{ insights_warehouse.period_start('start_date', g) }} as cohort_start,
        min(start_date) as start_date
    from d{{ i }}_starts
    group by creator_id, user_id, {{ insights_warehouse.period_start('start_date', g) }}
    {%- endif %}

),

d{{ i }}_cohorts as (

    select
        creator_id,
        cohort_start,
        {{ insights_warehouse.add_days(insights_warehouse.add_periods('cohort_start', g, 1), -1) }}
            as cohort_end,
        count(*) as cohort_size
    from d{{ i }}_entries
    group by creator_id, cohort_start

),

{# Each entry's returns from its start on (signup: from its cohort period on). #}
d{{ i }}_entry_returns as (

    select
        entries.creator_id,
        entries.user_id,
        entries.cohort_start,
        entries.start_date,
        returns.return_date,
        {{ insights_warehouse.period_start('returns.return_date', g) }} as return_period
    from d{{ i }}_entries as entries
    inner join d{{ i }}_returns as returns
        on entries.creator_id = returns.creator_id
        and entries.user_id = returns.user_id
        {%- if d.start == 'signup' %}
        and {{ insights_warehouse.period_start('returns.return_date', g) }} >= entries.cohort_start
        {%- else %}
        and returns.return_date >= entries.start_date
        {%- endif %}

),
{%- if d.mode == 'brackets' %}

d{{ i }}_brackets as (
    {%- for b in d.brackets %}
    {{ 'union all ' if not loop.first }}select {{ loop.index }} as period, {{ b[0] | int }} as first_day, {{ b[1] | int }} as last_day
    {%- endfor %}

),

d{{ i }}_cells as (

    select
        cohorts.creator_id,
        cohorts.cohort_start,
        cohorts.cohort_end,
        cohorts.cohort_size,
        brackets.period,
        brackets.first_day as bracket_first_day,
        brackets.last_day as bracket_last_day,
        {{ insights_warehouse.add_days('cohorts.cohort_start', 'brackets.first_day') }} as period_start,
        {{ insights_warehouse.add_days('cohorts.cohort_end', 'brackets.last_day') }} as period_end
    from d{{ i }}_cohorts as cohorts
    cross join d{{ i }}_brackets as brackets

),

d{{ i }}_retained as (

    select
        entry_returns.creator_id,
        entry_returns.cohort_start,
        brackets.period,
        count(distinct entry_returns.user_id) as retained_users
    from d{{ i }}_entry_returns as entry_returns
    inner join d{{ i }}_brackets as brackets
        on {{ insights_warehouse.days_between('entry_returns.start_date', 'entry_returns.return_date') }}
            between brackets.first_day and brackets.last_day
    group by entry_returns.creator_id, entry_returns.cohort_start, brackets.period

),
{%- else %}

d{{ i }}_cells as (

    select
        cohorts.creator_id,
        cohorts.cohort_start,
        cohorts.cohort_end,
        cohorts.cohort_size,
        {{ insights_warehouse.periods_between('cohorts.cohort_start', 'periods.period_start', g) }} as period,
        cast(null as integer) as bracket_first_day,
        cast(null as integer) as bracket_last_day,
        periods.period_start,
        periods.period_end
    from d{{ i }}_cohorts as cohorts
    inner join calendar_periods as periods
        on periods.period_grain = '{{ g }}'
        and periods.period_start >= cohorts.cohort_start

),
{%- if d.mode == 'on' %}

d{{ i }}_retained as (

    select
        creator_id,
        cohort_start,
        {{ insights_warehouse.periods_between('cohort_start', 'return_period', g) }} as period,
        count(distinct user_id) as retained_users
    from d{{ i }}_entry_returns
    group by creator_id, cohort_start, return_period

),
{%- else %}

{# on_or_after: the latest complete period with a return, per entry. #}
d{{ i }}_last_return as (

    select
        creator_id,
        user_id,
        cohort_start,
        max(return_period) as last_return_period
    from d{{ i }}_entry_returns
    where {{ insights_warehouse.add_days(insights_warehouse.add_periods('return_period', g, 1), -1) }}
        <= (select as_of_date from as_of)
    group by creator_id, user_id, cohort_start

),

d{{ i }}_retained as (

    select
        cells.creator_id,
        cells.cohort_start,
        cells.period,
        count(*) as retained_users
    from d{{ i }}_cells as cells
    inner join d{{ i }}_last_return as last_return
        on cells.creator_id = last_return.creator_id
        and cells.cohort_start = last_return.cohort_start
        and last_return.last_return_period >= cells.period_start
    group by cells.creator_id, cells.cohort_start, cells.period

),
{%- endif %}
{%- endif %}

d{{ i }}_final as (

    select
        cast('{{ d.name }}' as {{ dbt.type_string() }}) as definition,
        cast('{{ d.mode }}' as {{ dbt.type_string() }}) as mode,
        cast('{{ d.cohort }}' as {{ dbt.type_string() }}) as cohort_type,
        cast('{{ g }}' as {{ dbt.type_string() }}) as cohort_grain,
        cast({{ insights_warehouse.selector_literal(d.start if d.start is string else tojson(d.start, sort_keys=true)) }}
            as {{ dbt.type_string() }}) as start_event,
        cast({{ insights_warehouse.selector_literal(d['return'] if d['return'] is string else tojson(d['return'], sort_keys=true)) }}
            as {{ dbt.type_string() }}) as return_event,
        cells.cohort_start,
        cells.creator_id,
        cells.cohort_size,
        cells.period,
        cells.period_start,
        cells.period_end,
        cells.bracket_first_day,
        cells.bracket_last_day,
        (
            cells.period_start >= coverage.coverage_start_date
            and cells.period_end <= as_of.as_of_date
            {%- if d.start != 'signup' %}
            and cells.cohort_start >= coverage.coverage_start_date
            and cells.cohort_end <= as_of.as_of_date
            {%- endif %}
        ) as is_covered,
        coalesce(retained.retained_users, 0) as retained_users_if_covered
    from d{{ i }}_cells as cells
    cross join as_of
    cross join coverage
    left join d{{ i }}_retained as retained
        on cells.creator_id = retained.creator_id
        and cells.cohort_start = retained.cohort_start
        and cells.period = retained.period
    where cells.period_start <= as_of.as_of_date

),
{%- endfor %}

unioned as (
    {%- for d in definitions %}
    {{ 'union all' if not loop.first }}
    select * from d{{ loop.index }}_final
    {%- endfor %}
    {%- if not definitions %}
    select
        cast(null as {{ dbt.type_string() }}) as definition,
        cast(null as {{ dbt.type_string() }}) as mode,
        cast(null as {{ dbt.type_string() }}) as cohort_type,
        cast(null as {{ dbt.type_string() }}) as cohort_grain,
        cast(null as {{ dbt.type_string() }}) as start_event,
        cast(null as {{ dbt.type_string() }}) as return_event,
        cast(null as date) as cohort_start,
        cast(null as {{ dbt.type_string() }}) as creator_id,
        cast(null as {{ dbt.type_bigint() }}) as cohort_size,
        cast(null as integer) as period,
        cast(null as date) as period_start,
        cast(null as date) as period_end,
        cast(null as integer) as bracket_first_day,
        cast(null as integer) as bracket_last_day,
        cast(null as boolean) as is_covered,
        cast(null as {{ dbt.type_bigint() }}) as retained_users_if_covered
    from as_of
    where 1 = 0
    {%- endif %}

)

select
    cast(unioned.definition as {{ dbt.type_string() }}) as definition,
    cast(unioned.mode as {{ dbt.type_string() }}) as mode,
    cast(unioned.cohort_grain as {{ dbt.type_string() }}) as cohort_grain,
    cast(unioned.cohort_start as date) as cohort_start,
    cast(unioned.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(unioned.cohort_size as {{ dbt.type_bigint() }}) as cohort_size,
    cast(unioned.period as integer) as period,
    cast(case when unioned.is_covered then unioned.retained_users_if_covered end
        as {{ dbt.type_bigint() }}) as retained_users,
    cast(
        case
            when unioned.is_covered
                then cast(unioned.retained_users_if_covered as {{ insights_warehouse.type_double() }})
                    / unioned.cohort_size
        end
        as {{ insights_warehouse.type_double() }}
    ) as retention_rate,
    cast(unioned.is_covered as boolean) as is_covered,
    cast(unioned.cohort_type as {{ dbt.type_string() }}) as cohort_type,
    cast(unioned.start_event as {{ dbt.type_string() }}) as start_event,
    cast(unioned.return_event as {{ dbt.type_string() }}) as return_event,
    cast(unioned.period_start as date) as period_start,
    cast(unioned.period_end as date) as period_end,
    cast(unioned.bracket_first_day as integer) as bracket_first_day,
    cast(unioned.bracket_last_day as integer) as bracket_last_day,
    cast(as_of.as_of_date as date) as as_of_date,
    cast(coverage.coverage_start_date as date) as coverage_start_date,
    cast('{{ insights_warehouse.reporting_timezone() }}' as {{ dbt.type_string() }})
        as reporting_timezone
from unioned
cross join as_of
cross join coverage
order by definition, creator_id, cohort_start, period
