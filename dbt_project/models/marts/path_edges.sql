-- Paths (metrics.md v2 "Paths"; marts.md version 2 path_edges), driven by the
-- definitions of var `paths` (config/settings.yaml metrics.paths; no SQL per path:
-- this model loops over them): per definition, creator scope, step, source and target,
-- the users with that edge of their path. Each user's path (their first anchor and the
-- labelled steps of its session after or before it) is int_path_user_edges', built
-- incrementally; here it is counted. Resolved users only; events up to the as-of date.

{%- set paths = insights_warehouse.path_definitions() %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

{# The users' edges (an anchor without a path has no step: not an edge). #}
user_edges as (

    select path, creator_id, step, source, target
    from {{ ref('int_path_user_edges') }}
    where step is not null

),
{%- for p in paths %}

p{{ loop.index }}_edges as (

    select
        cast('{{ p.name }}' as {{ dbt.type_string() }}) as path,
        cast('{{ p.direction }}' as {{ dbt.type_string() }}) as direction,
        creator_id,
        step,
        source,
        target,
        count(*) as users,
        cast({{ insights_warehouse.selector_literal(tojson(p.anchor, sort_keys=true)) }}
            as {{ dbt.type_string() }}) as anchor,
        cast('{{ p.label }}' as {{ dbt.type_string() }}) as label_by,
        {{ p.steps }} as max_steps
    from user_edges
    where path = '{{ p.name }}'
    group by creator_id, step, source, target

),
{%- endfor %}

unioned as (
    {%- for p in paths %}
    {{ 'union all' if not loop.first }}
    select * from p{{ loop.index }}_edges
    {%- endfor %}
    {%- if not paths %}
    select
        cast(null as {{ dbt.type_string() }}) as path,
        cast(null as {{ dbt.type_string() }}) as direction,
        cast(null as {{ dbt.type_string() }}) as creator_id,
        cast(null as integer) as step,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as target,
        cast(null as {{ dbt.type_bigint() }}) as users,
        cast(null as {{ dbt.type_string() }}) as anchor,
        cast(null as {{ dbt.type_string() }}) as label_by,
        cast(null as integer) as max_steps
    from as_of
    where 1 = 0
    {%- endif %}

)

select
    cast(unioned.path as {{ dbt.type_string() }}) as path,
    cast(unioned.direction as {{ dbt.type_string() }}) as direction,
    cast(unioned.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(unioned.step as integer) as step,
    cast(unioned.source as {{ dbt.type_string() }}) as source,
    cast(unioned.target as {{ dbt.type_string() }}) as target,
    cast(unioned.users as {{ dbt.type_bigint() }}) as users,
    cast(unioned.anchor as {{ dbt.type_string() }}) as anchor,
    cast(unioned.label_by as {{ dbt.type_string() }}) as label_by,
    cast(unioned.max_steps as integer) as max_steps,
    cast(as_of.as_of_date as date) as as_of_date
from unioned
cross join as_of
order by path, creator_id, step, users desc, source, target
