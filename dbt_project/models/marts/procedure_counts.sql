{#- the dashboard's code and drug pages read one code in every geography of a level -#}
{{ config(post_hook=[
    "{{ geo_index() }}",
    "create index on {{ this }} (hcpcs_code, data_year, geo_level, event_count)",
]) }}

with

events_by_geo as (
    select * from {{ ref('int_procedure_events_by_geo') }}
),

hcpcs_codes as (
    select * from {{ ref('stg_landing__hcpcs_codes') }}
),

described as (
    select
        events_by_geo.data_year,
        events_by_geo.geo_level,
        events_by_geo.geo_id,
        events_by_geo.hcpcs_code,
        hcpcs_codes.hcpcs_description,
        events_by_geo.event_count,
        events_by_geo.service_units,
        events_by_geo.submitted_charge,
        events_by_geo.allowed_amount,
        events_by_geo.paid_amount,
        events_by_geo.standardized_amount,
        coalesce(hcpcs_codes.is_drug, false) as is_drug
    from events_by_geo
    left join hcpcs_codes
        on
            events_by_geo.data_year = hcpcs_codes.data_year
            and events_by_geo.hcpcs_code = hcpcs_codes.hcpcs_code
),

final as (
    select
        data_year,
        geo_level,
        geo_id,
        hcpcs_code,
        hcpcs_description,
        is_drug,
        event_count,
        service_units,
        round(
            100.0 * event_count / nullif(
                sum(event_count) over (partition by data_year, geo_level, geo_id, is_drug), 0
            ),
            6
        ) as pct_of_geo,
        -- sums of the events' cents: exact, NULL when every summed event has none
        round(submitted_charge, 2) as submitted_charge,
        round(allowed_amount, 2) as allowed_amount,
        round(paid_amount, 2) as paid_amount,
        round(standardized_amount, 2) as standardized_amount
    from described
)

select * from final
