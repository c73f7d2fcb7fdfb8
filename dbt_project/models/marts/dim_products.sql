{#
    Products dimension (Type 1: the latest version of each product), keyed by
    product_sk = hash(product_id). Products named by events but never loaded
    get an inferred member (attributes null) so every non-null product_sk in
    fact_events has its row; the key does not change when the product
    arrives.
#}
with

products as (

    select * from {{ ref('stg_products') }}

),

event_products as (

    select distinct product_id
    from {{ ref('stg_events') }}
    where product_id is not null

),

inferred as (

    select event_products.product_id
    from event_products
    left join products
        on products.product_id = event_products.product_id
    where products.product_id is null

),

members as (

    select
        product_id,
        product_name,
        category,
        price,
        false as is_inferred

    from products

    union all

    select
        product_id,
        cast(null as {{ dbt.type_string() }}) as product_name,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(null as {{ type_double() }}) as price,
        true as is_inferred

    from inferred

)

select
    {{ surrogate_key(['product_id']) }} as product_sk,
    product_id,
    product_name,
    category,
    price,
    is_inferred

from members
