{#
    Products carry no change timestamp: a later load replaces an earlier one,
    so the latest ingested row per product_id is the product.
#}
with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(product_name as {{ dbt.type_string() }}) as product_name,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(price as {{ type_double() }}) as price,
        cast(job_id as {{ dbt.type_string() }}) as job_id,
        {{ to_utc_timestamp('ingested_at') }} as ingested_at

    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id
            order by ingested_at desc, job_id desc
        ) as version_rank

    from renamed

)

select
    product_id,
    product_name,
    category,
    price,
    job_id,
    ingested_at

from ranked
where version_rank = 1
