{#
    Fails for every row where the SQL boolean expression is not true
    (a small stand-in for dbt_utils.expression_is_true).
#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
