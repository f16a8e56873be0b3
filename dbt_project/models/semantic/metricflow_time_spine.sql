-- MetricFlow's daily time spine (one row per calendar day, 2000-01-01 .. 2099-12-31).
-- The marts' dates are already local dates of the reporting time zone (metrics.md
-- "Time"), so the spine's days are reporting-time-zone days and metric_time__week /
-- __month group them into ISO weeks and calendar months of that zone.

select cast(date_day as date) as date_day
from (
    {{ insights_warehouse.date_spine("'2000-01-01'", "'2099-12-31'") }}
) as spine
