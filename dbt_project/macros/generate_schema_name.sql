{#- Custom schemas are used verbatim (marts_build, dbt_staging, ...), not prefixed with the
    target schema, so that the contract's schema names hold on every target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
