-- Performance of each piece of creator content over all its daily metrics up to the
-- as-of date: totals, engagement rate, click-through rate, conversions, and a 0..100
-- score ranking the content against the other content of its platform.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

daily as (

    select content_id, metrics_date, creator_id, content_platform, impressions, likes,
           comments, shares, clicks, conversions
    from {{ ref('stg_content_metrics') }}
    where metrics_date <= (select as_of_date from as_of)

),

latest_attributes as (

    select content_id, creator_id, content_platform
    from (
        select
            content_id,
            creator_id,
            content_platform,
            row_number() over (partition by content_id order by metrics_date desc) as recency
        from daily
    ) as ranked
    where recency = 1

),

totals as (

    select
        content_id,
        sum(coalesce(impressions, 0)) as impressions,
        sum(coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0)) as engagements,
        sum(coalesce(clicks, 0)) as clicks,
        sum(coalesce(conversions, 0)) as conversions
    from daily
    group by content_id

),

rates as (

    select
        totals.content_id,
        latest_attributes.creator_id,
        latest_attributes.content_platform as platform,
        totals.impressions,
        totals.engagements,
        totals.clicks,
        totals.conversions,
        case when totals.impressions > 0
             then cast(totals.engagements as {{ insights_warehouse.type_double() }}) / totals.impressions
        end as engagement_rate,
        case when totals.impressions > 0
             then cast(totals.clicks as {{ insights_warehouse.type_double() }}) / totals.impressions
        end as ctr,
        case when totals.impressions > 0
             then cast(totals.conversions as {{ insights_warehouse.type_double() }}) / totals.impressions
        end as conversion_rate
    from totals
    inner join latest_attributes
        on totals.content_id = latest_attributes.content_id

),

{# Percentile ranks within the platform, over content with impressions only. #}
ranked as (

    select
        content_id,
        count(*) over (partition by platform) as platform_content,
        percent_rank() over (partition by platform order by engagement_rate) as engagement_rank,
        percent_rank() over (partition by platform order by ctr) as ctr_rank,
        percent_rank() over (partition by platform order by conversion_rate) as conversion_rank
    from rates
    where impressions > 0

)

select
    cast(rates.content_id as {{ dbt.type_string() }}) as content_id,
    cast(rates.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(rates.platform as {{ dbt.type_string() }}) as platform,
    cast(rates.impressions as {{ dbt.type_bigint() }}) as impressions,
    cast(rates.engagements as {{ dbt.type_bigint() }}) as engagements,
    cast(rates.engagement_rate as {{ insights_warehouse.type_double() }}) as engagement_rate,
    cast(rates.ctr as {{ insights_warehouse.type_double() }}) as ctr,
    cast(rates.conversions as {{ dbt.type_bigint() }}) as conversions,
    cast(
        case
            when ranked.content_id is null then null
            when ranked.platform_content = 1 then 50.0
            else 100.0 * (ranked.engagement_rank + ranked.ctr_rank + ranked.conversion_rank) / 3.0
        end
        as {{ insights_warehouse.type_double() }}
    ) as performance_score,
    cast(rates.clicks as {{ dbt.type_bigint() }}) as clicks,
    cast(rates.conversion_rate as {{ insights_warehouse.type_double() }}) as conversion_rate,
    cast((select as_of_date from as_of) as date) as as_of_date
from rates
left join ranked
    on rates.content_id = ranked.content_id
