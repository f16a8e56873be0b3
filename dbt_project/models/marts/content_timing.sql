-- When to publish (product documents 003 and 004): per content platform, the mean
-- engagement rate of the content published on each ISO weekday and at each local hour
-- (reporting time zone), with a 95 % confidence interval, so a "best" slot is told
-- apart from noise.
--
-- Each piece of content counts once, with its engagement rate over all its daily metrics
-- up to the as-of date (content_performance: engagements / impressions; content without
-- impressions is left out). Per platform, slot kind (weekday, hour) and slot: contents,
-- the mean rate, its standard error (sample standard deviation / sqrt(n)) and a 95 %
-- Student-t interval, its low end cut at 0 (null with fewer than two contents); the
-- platform's mean over all its content; `rank` by mean rate within platform and slot kind; `beats_platform_mean`
-- when the slot's mean lies above the platform's mean with the interval widened for
-- the many slots compared at once (Bonferroni over the platform's slots of the kind):
-- with 24 hours compared, a plain 95 % interval would crown a lucky hour most weeks.

{%- set tz = insights_warehouse.reporting_timezone() %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

published as (

    select content_id, max(published_at) as published_at
    from {{ ref('stg_content_metrics') }}
    where metrics_date <= (select as_of_date from as_of)
      and published_at is not null
    group by content_id

),

contents as (

    select
        performance.platform,
        performance.engagement_rate,
        {{ insights_warehouse.iso_weekday(insights_warehouse.to_local_date('published.published_at', tz)) }}
            as weekday,
        {{ insights_warehouse.to_local_hour('published.published_at', tz) }} as hour
    from {{ ref('content_performance') }} as performance
    inner join published on performance.content_id = published.content_id
    where performance.engagement_rate is not null

),

slots as (

    select platform, cast('weekday' as {{ dbt.type_string() }}) as slot_kind, weekday as slot,
        engagement_rate
    from contents

    union all

    select platform, cast('hour' as {{ dbt.type_string() }}), hour, engagement_rate
    from contents

),

by_slot as (

    select
        platform,
        slot_kind,
        slot,
        count(*) as contents,
        avg(engagement_rate) as mean_engagement_rate,
        stddev_samp(engagement_rate) as sd_engagement_rate
    from slots
    group by platform, slot_kind, slot

),

platform_means as (

    select platform, avg(engagement_rate) as platform_mean_engagement_rate
    from contents
    group by platform

),

with_intervals as (

    select
        by_slot.*,
        platform_means.platform_mean_engagement_rate,
        case when by_slot.contents >= 2
             then by_slot.sd_engagement_rate / sqrt(by_slot.contents) end as standard_error,
        {{ insights_warehouse.t_critical_975('by_slot.contents - 1') }} as t_critical,
        {# Bonferroni over the slots of the platform and kind: z of 1 - 0.025 / k, scaled
           by t / 1.96 (a conservative approximation of the t quantile at that level) #}
        case when count(*) over (partition by by_slot.platform, by_slot.slot_kind) <= 7
             then 2.690 else 3.076 end / 1.959964 as bonferroni_factor
    from by_slot
    inner join platform_means on by_slot.platform = platform_means.platform

)

select
    cast(platform as {{ dbt.type_string() }}) as platform,
    cast(slot_kind as {{ dbt.type_string() }}) as slot_kind,
    cast(slot as integer) as slot,
    cast(contents as {{ dbt.type_bigint() }}) as contents,
    cast(mean_engagement_rate as {{ insights_warehouse.type_double() }}) as mean_engagement_rate,
    cast(standard_error as {{ insights_warehouse.type_double() }}) as standard_error,
    {# a rate is never below 0: the interval's low end is cut there (seen at 1M events:
       a slot of 7 contents reached -0.003) #}
    cast(case when standard_error is not null
              then greatest(mean_engagement_rate - t_critical * standard_error, 0.0) end
        as {{ insights_warehouse.type_double() }}) as ci_low,
    cast(mean_engagement_rate + t_critical * standard_error as {{ insights_warehouse.type_double() }})
        as ci_high,
    cast(platform_mean_engagement_rate as {{ insights_warehouse.type_double() }})
        as platform_mean_engagement_rate,
    cast(rank() over (
        partition by platform, slot_kind order by mean_engagement_rate desc
    ) as integer) as {{ adapter.quote('rank') }},
    cast(coalesce(
        mean_engagement_rate - bonferroni_factor * t_critical * standard_error
            > platform_mean_engagement_rate,
        false) as boolean) as beats_platform_mean
from with_intervals
