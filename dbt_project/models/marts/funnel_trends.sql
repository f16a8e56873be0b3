-- Conversion trend by entry period (metrics.md v2 "Funnels, version 2", Trend): per
-- funnel, creator, entry period (day and week of the funnel's `trend_grains`, reporting
-- time zone, weeks from Monday) and step, the users who entered in the period (an
-- attempt whose step 1 falls in it) and reached the step with one of the attempts they
-- started in the period (their deepest; a user who enters in two periods counts in
-- both). A period is complete when the window of its last possible entry has elapsed
-- by the end of the as-of date (period end + window <= as-of date + 1 day; a session
-- window: the period has ended) and it lies wholly after the coverage start (an entry
-- period cut by the start of the data is not a whole period); an incomplete period's
-- conversion is null, never a low number (its users so far are still shown).

{%- set funnels = insights_warehouse.funnel_definitions() %}
{%- set string = dbt.type_string() %}
{%- set double = insights_warehouse.type_double() %}
{%- set ns = namespace(any=false) %}
{%- for funnel in funnels %}{%- if funnel.trend_grains %}{%- set ns.any = true %}{%- endif %}{%- endfor %}

with coverage as (

    select coverage_start_date, as_of_date from {{ ref('int_coverage') }}

),

attempts as (

    select funnel, creator_id, user_id, entry_date, steps_reached
    from {{ ref('int_funnel_attempts') }}

),

entries as (
    {%- set first = namespace(done=false) %}
    {%- for funnel in funnels %}
    {%- for grain in funnel.trend_grains %}
    {%- if first.done %}
    union all
    {%- endif %}
    {%- set first.done = true %}
    {%- set period = insights_warehouse.period_start('entry_date', grain) %}
    select
        funnel,
        creator_id,
        user_id,
        cast({{ insights_warehouse.funnel_literal(grain) }} as {{ string }}) as entry_period_grain,
        {{ period }} as entry_period,
        {{ insights_warehouse.add_seconds_to_timestamp(
            'cast(' ~ insights_warehouse.add_periods(period, grain, 1) ~ ' as ' ~ dbt.type_timestamp() ~ ')',
            funnel.window_seconds or 0) }} as window_closes_at,
        steps_reached
    from attempts
    where funnel = {{ insights_warehouse.funnel_literal(funnel.name) }}
    {%- endfor %}
    {%- endfor %}
    {%- if not ns.any %}
    select
        cast(null as {{ string }}) as funnel,
        cast(null as {{ string }}) as creator_id,
        cast(null as {{ string }}) as user_id,
        cast(null as {{ string }}) as entry_period_grain,
        cast(null as date) as entry_period,
        cast(null as {{ dbt.type_timestamp() }}) as window_closes_at,
        cast(null as integer) as steps_reached
    where 1 = 0
    {%- endif %}

),

user_periods as (

    select
        funnel, creator_id, user_id, entry_period_grain, entry_period, window_closes_at,
        max(steps_reached) as deepest_step
    from entries
    group by funnel, creator_id, user_id, entry_period_grain, entry_period, window_closes_at

),

users_by_depth as (

    select
        funnel, creator_id, entry_period_grain, entry_period, window_closes_at, deepest_step,
        count(*) as users
    from user_periods
    group by funnel, creator_id, entry_period_grain, entry_period, window_closes_at, deepest_step

),

funnel_definition as (

    {{ insights_warehouse.funnel_step_rows(funnels, require='trend_grains') }}

),

periods as (

    select distinct funnel, creator_id, entry_period_grain, entry_period, window_closes_at
    from users_by_depth

),

step_users as (

    select
        periods.funnel,
        periods.creator_id,
        periods.entry_period_grain,
        periods.entry_period,
        periods.window_closes_at,
        funnel_definition.step,
        funnel_definition.step_name,
        sum(case when users_by_depth.deepest_step >= funnel_definition.step
                 then users_by_depth.users else 0 end) as users
    from periods
    inner join funnel_definition
        on funnel_definition.funnel = periods.funnel
    inner join users_by_depth
        on users_by_depth.funnel = periods.funnel
        and users_by_depth.creator_id = periods.creator_id
        and users_by_depth.entry_period_grain = periods.entry_period_grain
        and users_by_depth.entry_period = periods.entry_period
    group by
        periods.funnel, periods.creator_id, periods.entry_period_grain, periods.entry_period,
        periods.window_closes_at, funnel_definition.step, funnel_definition.step_name

),

with_neighbours as (

    select
        step_users.*,
        max(case when step = 1 then users end) over (
            partition by funnel, creator_id, entry_period_grain, entry_period
        ) as step1_users,
        lag(users) over (
            partition by funnel, creator_id, entry_period_grain, entry_period order by step
        ) as previous_step_users,
        (
            window_closes_at <= cast({{ insights_warehouse.add_days('coverage.as_of_date', 1) }}
                                     as {{ dbt.type_timestamp() }})
            and entry_period >= coverage.coverage_start_date
        ) as is_complete
    from step_users
    cross join coverage

)

select
    cast(funnel as {{ string }}) as funnel,
    cast(creator_id as {{ string }}) as creator_id,
    cast(entry_period_grain as {{ string }}) as entry_period_grain,
    cast(entry_period as date) as entry_period,
    cast(step as integer) as step,
    cast(step_name as {{ string }}) as step_name,
    cast(users as {{ dbt.type_bigint() }}) as users,
    cast(
        case
            when not is_complete or step1_users = 0 then null
            else cast(users as {{ double }}) / step1_users
        end
        as {{ double }}
    ) as conversion_rate,
    cast(coalesce(previous_step_users - users, 0) as {{ dbt.type_bigint() }}) as dropoff_users,
    cast(is_complete as boolean) as is_complete,
    cast(window_closes_at as {{ dbt.type_timestamp() }}) as window_closes_at
from with_neighbours
order by funnel, creator_id, entry_period_grain, entry_period, step
