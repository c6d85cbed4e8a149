{#- Post-hooks of the marts. Indexes are left unnamed, so PostgreSQL picks a free name even
    while a previous build of the same table still exists beside the new one. -#}

{#- The dashboard looks every geo mart up by (year, level, id). -#}
{% macro geo_index() -%}
    create index on {{ this }} (data_year, geo_level, geo_id)
{%- endmacro %}

{#- Case-insensitive substring search over practice names: a trigram index when pg_trgm is
    installed in the database (the embedded server installs it when the binaries ship it),
    otherwise an index on the lower-cased name (the search then scans the practices). -#}
{% macro practice_name_index() -%}
    {%- if execute -%}
        {%- set trgm = run_query("select 1 from pg_extension where extname = 'pg_trgm'") -%}
        {%- if trgm.rows | length > 0 -%}
            create index on {{ this }} using gin (lower(display_name) gin_trgm_ops)
                where geo_level = 'practice'
        {%- else -%}
            create index on {{ this }} (lower(display_name)) where geo_level = 'practice'
        {%- endif -%}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Provider search by name prefix: a pattern-ops index on the lower-cased display name
    (serves `lower(display_name) like 'smi%'` whatever the database's collation). -#}
{% macro provider_name_index() -%}
    create index on {{ this }} (lower(display_name) text_pattern_ops, data_year)
{%- endmacro %}
