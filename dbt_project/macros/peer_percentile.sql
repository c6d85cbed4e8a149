{#- Contract v2 section 4, peer percentiles: 100 × percent_rank() of `value` within the
    partition, rounded half up to one decimal, over the rows whose value is above 0 (and whose
    partition columns are all set); NULL for the others. Computed in numeric from rank() and
    the group's size, as percent_rank() defines it, so that no double rounding moves a half. -#}
{% macro peer_percentile(value, partition_by) -%}
    {%- set ranked -%}
        {{ value }} > 0 {% for column in partition_by %} and {{ column }} is not null{% endfor %}
    {%- endset -%}
    {%- set window -%}
        partition by {{ partition_by | join(', ') }}, ({{ ranked }})
    {%- endset -%}
    case
        when {{ ranked }}
            then round(
                coalesce(
                    100.0 * (rank() over ({{ window }} order by {{ value }}) - 1)
                    / nullif(count(*) over ({{ window }}) - 1, 0),
                    0
                ),
                1
            )
    end
{%- endmacro %}
