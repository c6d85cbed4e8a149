{#- Custom schemas are used verbatim (marts_build, dbt_staging, ...), not prefixed with the
    target schema, so that the contract's schema names hold on every target.
    `--vars '{document_published_marts: true}'` (the docs site, generated after the publish)
    resolves the marts to `marts`, where they are then and where their readers find them; the
    models' configured schema stays `marts_build`, so the publish macros are unaffected. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}
    {%- elif var('document_published_marts', false) and custom_schema_name | trim == 'marts_build' -%}marts
    {%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
