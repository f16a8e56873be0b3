-- Every experiment has exactly one control row.
-- A singular test, not an expression_is_true in the model's yml: its SQL calls
-- ref() inside the expression, which only dbt renders (the pipeline counts the yml's
-- expression tests itself, orchestration/batched_tests.py). Fails with the offending rows.
select *
from {{ ref('experiment_results') }} as experiment_results
where not coalesce((
    (select count(*) from {{ ref('experiment_results') }} as inner_rows
     where inner_rows.experiment_id = experiment_results.experiment_id
       and inner_rows.is_control) = 1
), false)
