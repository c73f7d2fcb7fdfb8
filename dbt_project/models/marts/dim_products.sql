{#
    Products dimension (Type 1: the latest version of each product), keyed by
    product_sk = hash(product_id). Products named by events but never loaded
    get an inferred member (attributes null) so every non-null product_sk in
    fact_events has its row; the key does not change when the product
    arrives.

    Incremental per product (delete+insert on product_id): a run rewrites
    the products staged since its last run and adds inferred members for the
    new events' unknown products.
#}
{{ incremental_config('product_id') }}

with

{{ since_cte() }}

products as (

    select * from {{ ref('stg_products') }}
    {{ incremental_where('dbt_loaded_at > (select loaded_at from since)') }}

),

event_products as (

    select distinct product_id
    from {{ ref('stg_events') }}
    where product_id is not null
    {% if is_incremental() %}
        and dbt_loaded_at > (select loaded_at from since)
        -- already a member (real or inferred): nothing to add
        and product_id not in (select product_id from {{ this }})
    {% endif %}

),

inferred as (

    select event_products.product_id
    from event_products
    left join {{ ref('stg_products') }} as known
        on known.product_id = event_products.product_id
    where known.product_id is null

),

members as (

    select
        product_id,
        product_name,
        category,
        price,
        false as is_inferred

    from products

    -- inferred members, as in dim_users: each dimension has its own typed nulls, so each writes its union
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
    members.*,
    {{ loaded_at() }} as dbt_loaded_at

from members
