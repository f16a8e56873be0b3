{#
    metrics.md v2: "Version 1's retention_cohorts is the definition start = signup,
    return = any active event, first_time, on." For every such definition of var
    `retention` (week or month grain), its '__all__' rows in marts.retention equal
    marts.retention_cohorts of that grain, cell by cell (cohort size, retained users,
    coverage; nulls equal). Fails with one row per cell that disagrees; passes
    trivially when no such definition is configured.
#}
{%- set matching = [] %}
{%- for d in insights_warehouse.retention_definitions() %}
{%- if d.start == 'signup' and d['return'] == 'any_active' and d.cohort == 'first_time'
      and d.mode == 'on' and d.grain in ('week', 'month') %}
{%- do matching.append(d) %}
{%- endif %}
{%- endfor %}

{%- if not matching %}
select 1 as no_matching_definition where 1 = 0
{%- else %}
{%- for d in matching %}
{{ 'union all' if not loop.first }}
select
    '{{ d.name }}' as definition,
    coalesce(v2.cohort_start, v1.cohort_start) as cohort_start,
    coalesce(v2.period, v1.period) as period,
    v1.cohort_size as v1_cohort_size,
    v2.cohort_size as v2_cohort_size,
    v1.retained_users as v1_retained_users,
    v2.retained_users as v2_retained_users
from (
    select * from {{ ref('retention') }}
    where definition = '{{ d.name }}' and creator_id = '__all__'
) as v2
full outer join (
    select * from {{ ref('retention_cohorts') }}
    where cohort_grain = '{{ d.grain }}'
) as v1
    on v1.cohort_start = v2.cohort_start
    and v1.period = v2.period
where v1.cohort_start is null
   or v2.cohort_start is null
   or v1.cohort_size <> v2.cohort_size
   or v1.is_covered <> v2.is_covered
   or coalesce(v1.retained_users, -1) <> coalesce(v2.retained_users, -1)
{%- endfor %}
{%- endif %}
