-- Time to convert (metrics.md v2 "Funnels, version 2"): per funnel × creator × step k >= 2,
-- over the users reaching step k, the seconds from step 1 to step k: p25, p50, p75, p90
-- (continuous) and a histogram with fixed buckets. A user's time is taken from their
-- first attempt (earliest start, then earliest reach) that reaches the step, as
-- version 1's funnel_steps median (which is this p50). Rows for every step >= 2 of every
-- funnel and every creator with an attempt of that funnel (0 users: nulls, empty buckets).

{%- set funnels = insights_warehouse.funnel_definitions() %}
{%- set max_steps = insights_warehouse.funnel_max_steps(funnels) %}
{%- set string = dbt.type_string() %}
{%- set double = insights_warehouse.type_double() %}
{%- set buckets = [('le_1m', 60), ('le_5m', 300), ('le_1h', 3600), ('le_1d', 86400), ('le_7d', 604800)] %}

with attempts as (

    select * from {{ ref('int_funnel_attempts') }}

),

reaches as (
    {%- for k in range(2, max_steps + 1) %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        funnel, creator_id, user_id, {{ k }} as step, attempt_start,
        reached_at_{{ k }} as reached_at
    from attempts
    where reached_at_{{ k }} is not null
    {%- endfor %}
    {%- if max_steps < 2 %}
    select
        funnel, creator_id, user_id, 2 as step, attempt_start, attempt_start as reached_at
    from attempts
    where 1 = 0
    {%- endif %}

),

first_reaches as (

    -- each user's first reach of a step (earliest attempt, then earliest reach); tied
    -- reaches have the same seconds
    select
        funnel,
        creator_id,
        step,
        {{ insights_warehouse.first_by(
            insights_warehouse.seconds_between('attempt_start', 'reached_at'),
            ['attempt_start', 'reached_at']) }} as seconds_to_convert
    from reaches
    group by funnel, creator_id, user_id, step

),

per_step as (

    select
        funnel,
        creator_id,
        step,
        count(*) as converted_users,
        {{ insights_warehouse.percentile_cont('seconds_to_convert', 0.25) }} as p25_seconds,
        {{ insights_warehouse.percentile_cont('seconds_to_convert', 0.5) }} as p50_seconds,
        {{ insights_warehouse.percentile_cont('seconds_to_convert', 0.75) }} as p75_seconds,
        {{ insights_warehouse.percentile_cont('seconds_to_convert', 0.9) }} as p90_seconds
        {%- set lower = [none] %}
        {%- for name, upper in buckets %},
        sum(case when seconds_to_convert <= {{ upper }}
            {%- if not loop.first %} and seconds_to_convert > {{ buckets[loop.index0 - 1][1] }}{% endif %}
            then 1 else 0 end) as {{ name }}
        {%- endfor %},
        sum(case when seconds_to_convert > {{ buckets[-1][1] }} then 1 else 0 end) as more
    from first_reaches
    group by funnel, creator_id, step

),

funnel_definition as (

    {{ insights_warehouse.funnel_step_rows(funnels, from_step=2) }}

),

funnel_creators as (

    select distinct funnel, creator_id from attempts

)

select
    cast(funnel_definition.funnel as {{ string }}) as funnel,
    cast(funnel_creators.creator_id as {{ string }}) as creator_id,
    cast(funnel_definition.step as integer) as step,
    cast(funnel_definition.step_name as {{ string }}) as step_name,
    cast(coalesce(per_step.converted_users, 0) as {{ dbt.type_bigint() }}) as converted_users,
    cast(per_step.p25_seconds as {{ double }}) as p25_seconds,
    cast(per_step.p50_seconds as {{ double }}) as p50_seconds,
    cast(per_step.p75_seconds as {{ double }}) as p75_seconds,
    cast(per_step.p90_seconds as {{ double }}) as p90_seconds,
    cast(
        '{'
        {%- for name, upper in buckets %}
        || '"{{ name }}": ' || cast(coalesce(per_step.{{ name }}, 0) as {{ string }}) || ', '
        {%- endfor %}
        || '"more": ' || cast(coalesce(per_step.more, 0) as {{ string }})
        || '}'
        as {{ string }}
    ) as histogram
from funnel_definition
inner join funnel_creators
    on funnel_creators.funnel = funnel_definition.funnel
left join per_step
    on per_step.funnel = funnel_definition.funnel
    and per_step.creator_id = funnel_creators.creator_id
    and per_step.step = funnel_definition.step
order by funnel_definition.funnel_order, funnel_creators.creator_id, funnel_definition.step
