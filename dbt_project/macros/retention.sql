{#
    Retention definitions come from configuration (var `retention`, the
    `metrics.retention` list of config/settings.yaml, typed by
    warehouse/settings.RetentionDefinition), never from SQL. `retention_definitions()`
    validates the var and returns a list of
    {name, start: 'signup' | selector, return: 'any_active' | selector, grain, mode,
     brackets: [[a, b], ...] | none, cohort}
    with selectors normalized (macros/selectors.sql); a bad definition fails compilation
    with a message naming it.
#}
{% macro retention_definitions() -%}
    {%- set raw = var('retention') -%}
    {%- if raw is none and not execute -%}{{ return([]) }}{%- endif -%}
    {%- if raw is none or raw is string or raw is mapping or raw is not iterable -%}
        {{ exceptions.raise_compiler_error("var retention must be a list of retention definitions, got: " ~ raw) }}
    {%- endif -%}
    {%- set out = [] -%}
    {%- set names = [] -%}
    {%- for d in raw -%}
        {%- if d is not mapping or not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', (d.get('name') or '') | string) -%}
            {{ exceptions.raise_compiler_error("every retention definition needs a name (letters, digits, _), got: " ~ d) }}
        {%- endif -%}
        {%- set name = d['name'] | string -%}
        {%- if name in names -%}
            {{ exceptions.raise_compiler_error("retention definition " ~ name ~ " is defined twice") }}
        {%- endif -%}
        {%- do names.append(name) -%}
        {%- set where = "retention definition " ~ name -%}
        {%- set start = d.get('start', 'signup') -%}
        {%- set start = 'signup' if start == 'signup' else insights_warehouse.normalize_selector(start, where ~ ", start") -%}
        {%- set ret = d.get('return', 'any_active') -%}
        {%- set ret = 'any_active' if ret == 'any_active' else insights_warehouse.normalize_selector(ret, where ~ ", return") -%}
        {%- set grain = d.get('grain', 'week') -%}
        {%- set mode = d.get('mode', 'on') -%}
        {%- set cohort = d.get('cohort', 'first_time') -%}
        {%- if grain not in ('day', 'week', 'month') -%}
            {{ exceptions.raise_compiler_error(where ~ ": grain must be day, week or month, got: " ~ grain) }}
        {%- endif -%}
        {%- if mode not in ('on', 'on_or_after', 'brackets') -%}
            {{ exceptions.raise_compiler_error(where ~ ": mode must be on, on_or_after or brackets, got: " ~ mode) }}
        {%- endif -%}
        {%- if cohort not in ('first_time', 'recurring') or (start == 'signup' and cohort == 'recurring') -%}
            {{ exceptions.raise_compiler_error(where ~ ": cohort must be first_time or recurring (signup: first_time), got: " ~ cohort) }}
        {%- endif -%}
        {%- set brackets = d.get('brackets') -%}
        {%- if mode == 'brackets' -%}
            {%- if brackets is none or brackets is string or brackets is mapping or (brackets | length) == 0 -%}
                {{ exceptions.raise_compiler_error(where ~ ": mode brackets needs brackets [[a, b], ...]") }}
            {%- endif -%}
            {%- for b in brackets -%}
                {%- if b is string or (b | length) != 2 or b[0] is not number or b[1] is not number
                      or b[0] < 0 or b[0] > b[1] -%}
                    {{ exceptions.raise_compiler_error(where ~ ": a bracket is [a, b] with 0 <= a <= b, got: " ~ b) }}
                {%- endif -%}
            {%- endfor -%}
        {%- elif brackets is not none -%}
            {{ exceptions.raise_compiler_error(where ~ ": brackets are only for mode brackets") }}
        {%- endif -%}
        {%- do out.append({'name': name, 'start': start, 'return': ret, 'grain': grain,
                           'mode': mode, 'brackets': brackets, 'cohort': cohort}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}
