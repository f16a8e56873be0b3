-- Audience and reach per platform and day (product documents 003 and 004): the daily
-- increments of content_metrics (contract: a day's rows are that day's numbers) summed
-- per metrics date × creator_id × platform, with followers gained and watch time, which
-- content_performance (one row per content) does not keep. creator_id = '__all__' sums
-- every creator's content. Dates up to the as-of date.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

daily as (

    select
        metrics_date, creator_id, content_platform, content_id, impressions, views,
        watch_time_s, likes, comments, shares, clicks, conversions, followers_gained
    from {{ ref('stg_content_metrics') }}
    where metrics_date <= (select as_of_date from as_of)

),

attributed as (

    select * from daily where creator_id is not null

    union all

    select
        metrics_date, cast('__all__' as {{ dbt.type_string() }}), content_platform, content_id,
        impressions, views, watch_time_s, likes, comments, shares, clicks, conversions,
        followers_gained
    from daily

)

select
    cast(metrics_date as date) as {{ adapter.quote('date') }},
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(content_platform as {{ dbt.type_string() }}) as platform,
    cast(count(distinct content_id) as {{ dbt.type_bigint() }}) as contents,
    cast(sum(coalesce(impressions, 0)) as {{ dbt.type_bigint() }}) as impressions,
    cast(sum(coalesce(views, 0)) as {{ dbt.type_bigint() }}) as views,
    cast(sum(coalesce(watch_time_s, 0)) as {{ insights_warehouse.type_double() }}) as watch_time_s,
    cast(sum(coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0))
        as {{ dbt.type_bigint() }}) as engagements,
    cast(sum(coalesce(clicks, 0)) as {{ dbt.type_bigint() }}) as clicks,
    cast(sum(coalesce(conversions, 0)) as {{ dbt.type_bigint() }}) as conversions,
    cast(sum(coalesce(followers_gained, 0)) as {{ dbt.type_bigint() }}) as followers_gained
from attributed
group by metrics_date, creator_id, content_platform
