{#
    marts.revenue_daily recomputed from stg_payments and stg_programs (metrics.md
    "Revenue"), not from the mart's SQL: per paid date, currency and creator of the paid
    program, and for '__all__' (every payment of the currency, programs without a known
    creator included), the sum of the charges' amounts, of the refunds' amounts and their
    difference, up to the as-of date. Fails with one row per date x currency x creator
    where the mart and the payments disagree (a missing or extra row included).
#}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

payments as (

    select
        payments.paid_date,
        payments.currency,
        programs.creator_id,
        case when payments.payment_kind = 'charge' then payments.amount else 0 end as charged,
        case when payments.payment_kind = 'refund' then payments.amount else 0 end as refunded,
        payments.signed_amount
    from {{ ref('stg_payments') }} as payments
    left join {{ ref('stg_programs') }} as programs
        on programs.program_id = payments.program_id
    where payments.paid_date <= (select as_of_date from as_of)
      and payments.currency is not null

),

expected as (

    select paid_date, currency, creator_id,
        sum(charged) as charges, sum(refunded) as refunds, sum(signed_amount) as net_revenue
    from payments
    where creator_id is not null
    group by paid_date, currency, creator_id

    union all

    select paid_date, currency, '__all__',
        sum(charged), sum(refunded), sum(signed_amount)
    from payments
    group by paid_date, currency

),

compared as (

    select
        coalesce(mart.{{ adapter.quote('date') }}, expected.paid_date) as paid_date,
        coalesce(mart.currency, expected.currency) as currency,
        coalesce(mart.creator_id, expected.creator_id) as creator_id,
        mart.charges, expected.charges as expected_charges,
        mart.refunds, expected.refunds as expected_refunds,
        mart.net_revenue, expected.net_revenue as expected_net_revenue
    from {{ ref('revenue_daily') }} as mart
    full outer join expected
        on expected.paid_date = mart.{{ adapter.quote('date') }}
        and expected.currency = mart.currency
        and expected.creator_id = mart.creator_id

)

select *
from compared
where charges is null or expected_charges is null
   or abs(charges - expected_charges) > 1e-6
   or abs(refunds - expected_refunds) > 1e-6
   or abs(net_revenue - expected_net_revenue) > 1e-6
