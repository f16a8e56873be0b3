-- Lesson quality-score trends (product document 002): the quality score (data.quality,
-- 0..1) of lesson_completed events per date × creator_id × topic, with '__all__' for
-- every creator and every topic (computed over the events, never averaged from other
-- rows). Measures: lessons_completed (with a quality score), mean_quality, and
-- low_quality_rate = share of them below 0.5. Up to the as-of date.

{%- set dims = [('creator_id', 'topic'), ('creator_id', None), (None, 'topic'), (None, None)] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

lessons as (

    select
        event_date,
        coalesce(creator_id, '(none)') as creator_id,
        coalesce(topic, '(none)') as topic,
        cast(quality as {{ insights_warehouse.type_double() }}) as quality
    from {{ ref('stg_events') }}
    where event_type = 'lesson_completed'
      and quality is not null
      and event_date <= (select as_of_date from as_of)

),

attributed as (
    {%- for creator, topic in dims %}
    {{ 'union all' if not loop.first }}

    select
        event_date,
        {{ creator if creator else "cast('__all__' as " ~ dbt.type_string() ~ ")" }} as creator_id,
        {{ topic if topic else "cast('__all__' as " ~ dbt.type_string() ~ ")" }} as topic,
        quality
    from lessons
    {%- endfor %}

)

select
    cast(event_date as date) as {{ adapter.quote('date') }},
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(topic as {{ dbt.type_string() }}) as topic,
    cast(count(*) as {{ dbt.type_bigint() }}) as lessons_completed,
    cast(avg(quality) as {{ insights_warehouse.type_double() }}) as mean_quality,
    cast(
        cast(sum(case when quality < 0.5 then 1 else 0 end) as {{ insights_warehouse.type_double() }})
        / count(*)
        as {{ insights_warehouse.type_double() }}
    ) as low_quality_rate
from attributed
group by event_date, creator_id, topic
