{#
    Bayesian Knowledge Tracing (metrics.md "Mastery"), one step: the probability of
    knowing the skill after one observed attempt, given `p` before it.
      posterior | correct = p (1 - slip) / (p (1 - slip) + (1 - p) guess)
      posterior | wrong   = p slip / (p slip + (1 - p) (1 - guess))
      next p              = posterior + (1 - posterior) transit
    All arguments are SQL expressions; `correct` is boolean (never null here).
    Portable SQL, used by every bkt_mastery_path implementation.
#}
{% macro bkt_step(p, correct, p_transit, p_guess, p_slip) -%}
    {%- set posterior -%}
    (case
        when {{ correct }} then
            ({{ p }}) * (1 - {{ p_slip }})
            / (({{ p }}) * (1 - {{ p_slip }}) + (1 - ({{ p }})) * {{ p_guess }})
        else
            ({{ p }}) * {{ p_slip }}
            / (({{ p }}) * {{ p_slip }} + (1 - ({{ p }})) * (1 - {{ p_guess }}))
    end)
    {%- endset -%}
    ({{ posterior }} + (1 - {{ posterior }}) * {{ p_transit }})
{%- endmacro %}


{#
    A query: the BKT mastery after every attempt. `attempts` names a relation or CTE
    with one row per attempt and columns user_id, topic, attempt_number (1..n without
    gaps per user_id × topic, time order), is_correct (boolean, not null), and the
    parameters p_init, p_transit, p_guess, p_slip (DOUBLE, constant per user_id × topic).
    Returns user_id, topic, attempt_number, mastery (after that attempt; the prior
    before attempt 1 is p_init).
#}
{% macro bkt_mastery_path(attempts) -%}
    {{ return(adapter.dispatch('bkt_mastery_path', 'insights_warehouse')(attempts)) }}
{%- endmacro %}

{# Portable: a recursive CTE, one attempt number per iteration. #}
{% macro default__bkt_mastery_path(attempts) -%}
    with recursive mastery_path (user_id, topic, attempt_number, mastery) as (
        select
            user_id,
            topic,
            attempt_number,
            cast({{ insights_warehouse.bkt_step('p_init', 'is_correct', 'p_transit',
                                               'p_guess', 'p_slip') }}
                 as {{ insights_warehouse.type_double() }}) as mastery
        from {{ attempts }}
        where attempt_number = 1

        union all

        select
            next_attempt.user_id,
            next_attempt.topic,
            next_attempt.attempt_number,
            cast({{ insights_warehouse.bkt_step(
                    'mastery_path.mastery', 'next_attempt.is_correct',
                    'next_attempt.p_transit', 'next_attempt.p_guess',
                    'next_attempt.p_slip') }}
                 as {{ insights_warehouse.type_double() }}) as mastery
        from mastery_path
        inner join {{ attempts }} as next_attempt
            on next_attempt.user_id = mastery_path.user_id
            and next_attempt.topic = mastery_path.topic
            and next_attempt.attempt_number = mastery_path.attempt_number + 1
    )
    select user_id, topic, attempt_number, mastery from mastery_path
{%- endmacro %}

{#
    DuckDB: the outcomes of a user × topic as one ordered list, folded by list_reduce
    into the list of probabilities [p_init, after 1, after 2, ...]; unnest turns the
    list back into one row per attempt. One pass per group, no recursion.
#}
{% macro duckdb__bkt_mastery_path(attempts) -%}
    select
        user_id,
        topic,
        cast(unnest(range(1, len(path))) as bigint) as attempt_number,
        cast(unnest(path[2:]) as double) as mastery
    from (
        select
            user_id,
            topic,
            list_reduce(
                outcomes,
                lambda acc, outcome: list_append(acc, {{ insights_warehouse.bkt_step(
                    'acc[-1]', 'outcome', 'p_transit', 'p_guess', 'p_slip') }}),
                [cast(p_init as double)]
            ) as path
        from (
            select
                user_id,
                topic,
                list(is_correct order by attempt_number) as outcomes,
                max(p_init) as p_init,
                max(p_transit) as p_transit,
                max(p_guess) as p_guess,
                max(p_slip) as p_slip
            from {{ attempts }}
            group by user_id, topic
        ) as grouped
    ) as paths
{%- endmacro %}

{#
    Spark / Databricks: the same fold as DuckDB's. The outcomes of a user × topic in
    attempt order (array_sort of (attempt_number, is_correct) structs), folded by
    aggregate() into [p_init, after 1, after 2, ...]; posexplode of the list without its
    first element gives one row per attempt. Spark before 4.1 has no recursive CTEs.
#}
{% macro spark__bkt_mastery_path(attempts) -%}
    select
        user_id,
        topic,
        cast(position + 1 as bigint) as attempt_number,
        cast(mastery as double) as mastery
    from (
        select
            user_id,
            topic,
            aggregate(
                outcomes,
                array(cast(p_init as double)),
                (acc, outcome) -> concat(acc, array({{ insights_warehouse.bkt_step(
                    'element_at(acc, -1)', 'outcome', 'p_transit', 'p_guess', 'p_slip') }}))
            ) as path
        from (
            select
                user_id,
                topic,
                transform(
                    array_sort(collect_list(struct(attempt_number, is_correct))),
                    attempt -> attempt.is_correct
                ) as outcomes,
                max(p_init) as p_init,
                max(p_transit) as p_transit,
                max(p_guess) as p_guess,
                max(p_slip) as p_slip
            from {{ attempts }}
            group by user_id, topic
        ) as grouped
    ) as paths
    lateral view posexplode(slice(path, 2, size(path) - 1)) steps as position, mastery
{%- endmacro %}
