{#- The geo_id of the nation level's one geography (contract section 4), as a SQL literal:
    its rows count every event and clinician of the year, whatever its state. -#}
{% macro nation_geo_id() -%}
    'US'
{%- endmacro %}
