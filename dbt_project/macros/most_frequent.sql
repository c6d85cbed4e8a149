{#- The contract's tie rule: the most frequent value (by a weight), ties to the smallest.
    Returns an ordered-set expression usable as an aggregate over a group. -#}
{% macro most_frequent(value, weight) -%}
    (array_agg({{ value }} order by {{ weight }} desc, {{ value }} asc))[1]
{%- endmacro %}
