{{ config(post_hook=[
    "create index on {{ this }} (npi, data_year)",
    "create index on {{ this }} (generic_name, data_year, claim_count)",
]) }}

with

prescription_events as (
    select * from {{ ref('stg_landing__prescription_events') }}
),

by_drug as (
    select
        data_year,
        npi,
        generic_name,
        sum(claim_count)::bigint as claim_count,
        sum(day_supply)::bigint as day_supply,
        sum(drug_cost) as drug_cost
    from prescription_events
    group by data_year, npi, generic_name
),

final as (
    select
        data_year,
        npi,
        generic_name,
        claim_count,
        day_supply,
        round(drug_cost, 2) as drug_cost,
        round(
            100.0 * claim_count / nullif(sum(claim_count) over (partition by data_year, npi), 0),
            6
        ) as pct_of_provider
    from by_drug
)

select * from final
