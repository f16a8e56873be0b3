-- Revenue per day, currency and creator (the program's creator), plus an all-creators
-- row per day × currency (creator_id = '__all__'): charges, refunds and their
-- difference (metrics.md "Revenue"), never summed across currencies. One row per
-- date × currency × creator with at least one payment, up to the as-of date.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

payments as (

    select
        stg_payments.paid_date,
        stg_payments.currency,
        stg_programs.creator_id,
        stg_payments.payment_kind,
        stg_payments.amount
    from {{ ref('stg_payments') }} as stg_payments
    left join {{ ref('stg_programs') }} as stg_programs
        on stg_payments.program_id = stg_programs.program_id
    where stg_payments.paid_date <= (select as_of_date from as_of)
      and stg_payments.currency is not null

),

per_creator as (

    select
        paid_date,
        currency,
        creator_id,
        sum(case when payment_kind = 'charge' then amount else 0 end) as charges,
        sum(case when payment_kind = 'refund' then amount else 0 end) as refunds
    from payments
    where creator_id is not null
    group by paid_date, currency, creator_id

),

all_creators as (

    select
        paid_date,
        currency,
        cast('__all__' as {{ dbt.type_string() }}) as creator_id,
        sum(case when payment_kind = 'charge' then amount else 0 end) as charges,
        sum(case when payment_kind = 'refund' then amount else 0 end) as refunds
    from payments
    group by paid_date, currency

),

combined as (

    select paid_date, currency, creator_id, charges, refunds from per_creator
    union all
    select paid_date, currency, creator_id, charges, refunds from all_creators

)

select
    cast(paid_date as date) as {{ adapter.quote('date') }},
    cast(currency as {{ dbt.type_string() }}) as currency,
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(charges as {{ insights_warehouse.type_double() }}) as charges,
    cast(refunds as {{ insights_warehouse.type_double() }}) as refunds,
    cast(charges - refunds as {{ insights_warehouse.type_double() }}) as net_revenue
from combined
