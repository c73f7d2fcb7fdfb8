{#
    Products carry no change timestamp: a later load replaces an earlier one,
    so the latest delivered row per product_id is the product (ingested_at,
    then job_id, then raw sequence number).

    Incremental: only the raw rows that arrived since the last run are read;
    one replaces the stored product only if it was delivered after it.
#}
{{ incremental_config('product_id') }}

with

renamed as (

    -- one cast per raw column (jaffle-shop's renamed CTE): the same shape in every staging model, not the same columns
    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(product_name as {{ dbt.type_string() }}) as product_name,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(price as {{ type_double() }}) as price,
        {{ delivery_columns() }}{{ pass_added_columns('products', 'source') }}

    from {{ raw_rows('products') }} as source

),

latest as (

    {{ first_delivery('renamed', 'product_id', latest=true) }}

)

select
    latest.*,
    {{ loaded_at() }} as dbt_loaded_at

from latest

{{ keep_new_deliveries('latest', 'product_id', latest=true) }}
