{#
    Fails for every combination of the given columns that occurs more than
    once (dbt_utils.unique_combination_of_columns, which we cannot install
    offline). Usage on a model:
        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [user_id, valid_from]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
