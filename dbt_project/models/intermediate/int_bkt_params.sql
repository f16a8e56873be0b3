-- Fitted Bayesian Knowledge Tracing parameters per topic: a copy of the optional table
-- ml.bkt_params, which a Python asset may write (dbt never writes schema ml). When that
-- table does not exist this model is empty and topic_mastery uses the default
-- parameters of the settings (vars bkt_*). Only valid rows are kept (every parameter a
-- probability, guess and slip strictly between 0 and 1), the latest fit per topic.
-- Lineage: the source ml.bkt_params, which the dbt step fits from the exercise attempts
-- of raw.events just before it builds (so this model comes after the load of the events):
-- depends_on: {{ source('ml', 'bkt_params') }}
-- depends_on: {{ source('raw', 'events') }}

{%- set fitted = adapter.get_relation(
        database=target.database, schema='ml', identifier='bkt_params') if execute else none %}

{% if fitted is not none -%}

with fitted as (

    select
        cast(topic as {{ dbt.type_string() }}) as topic,
        cast(p_init as {{ insights_warehouse.type_double() }}) as p_init,
        cast(p_transit as {{ insights_warehouse.type_double() }}) as p_transit,
        cast(p_guess as {{ insights_warehouse.type_double() }}) as p_guess,
        cast(p_slip as {{ insights_warehouse.type_double() }}) as p_slip,
        cast(coalesce(source, 'fitted') as {{ dbt.type_string() }}) as source,
        cast(fitted_at as {{ dbt.type_timestamp() }}) as fitted_at
    from {{ fitted }}

),

valid as (

    select
        *,
        row_number() over (
            partition by topic order by fitted_at desc nulls last, source
        ) as fit_rank
    from fitted
    where topic is not null
      and p_init between 0 and 1
      and p_transit between 0 and 1
      and p_guess > 0 and p_guess < 1
      and p_slip > 0 and p_slip < 1

)

select topic, p_init, p_transit, p_guess, p_slip, source, fitted_at
from valid
where fit_rank = 1

{%- else -%}

select
    cast(null as {{ dbt.type_string() }}) as topic,
    cast(null as {{ insights_warehouse.type_double() }}) as p_init,
    cast(null as {{ insights_warehouse.type_double() }}) as p_transit,
    cast(null as {{ insights_warehouse.type_double() }}) as p_guess,
    cast(null as {{ insights_warehouse.type_double() }}) as p_slip,
    cast(null as {{ dbt.type_string() }}) as source,
    cast(null as {{ dbt.type_timestamp() }}) as fitted_at
where 1 = 0

{%- endif %}
