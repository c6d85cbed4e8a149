{#- the dashboard's code and drug pages read one drug in every geography of a level -#}
{{ config(post_hook=[
    "{{ geo_index() }}",
    "create index on {{ this }} (generic_name, data_year, geo_level, claim_count)",
]) }}

with

events_by_geo as (
    select * from {{ ref('int_prescription_events_by_geo') }}
),

final as (
    select
        data_year,
        geo_level,
        geo_id,
        generic_name,
        claim_count,
        day_supply,
        round(drug_cost, 2) as drug_cost,
        round(
            100.0 * claim_count / nullif(
                sum(claim_count) over (partition by data_year, geo_level, geo_id), 0
            ),
            6
        ) as pct_of_geo
    from events_by_geo
)

select * from final
