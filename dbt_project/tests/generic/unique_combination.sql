{#- The columns, taken together, identify one row: the grain of a model. -#}
{% test unique_combination(model, columns) %}

select {{ columns | join(', ') }}, count(*) as rows_per_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
