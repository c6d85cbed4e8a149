{{ config(post_hook=[
    "create index on {{ this }} (npi, data_year)",
    "create index on {{ this }} (hcpcs_code, data_year, event_count)",
]) }}

with

procedure_events as (
    select * from {{ ref('stg_landing__procedure_events') }}
),

hcpcs_codes as (
    select * from {{ ref('stg_landing__hcpcs_codes') }}
),

by_code as (
    select
        data_year,
        npi,
        hcpcs_code,
        sum(event_count)::bigint as event_count,
        sum(service_units) as service_units,
        sum(paid_amount) as paid_amount
    from procedure_events
    group by data_year, npi, hcpcs_code
),

described as (
    select
        by_code.*,
        coalesce(hcpcs_codes.is_drug, false) as is_drug
    from by_code
    left join hcpcs_codes
        on
            by_code.data_year = hcpcs_codes.data_year
            and by_code.hcpcs_code = hcpcs_codes.hcpcs_code
),

final as (
    select
        data_year,
        npi,
        hcpcs_code,
        is_drug,
        event_count,
        service_units,
        round(paid_amount, 2) as paid_amount,
        round(
            100.0 * event_count / nullif(
                sum(event_count) over (partition by data_year, npi, is_drug), 0
            ),
            6
        ) as pct_of_provider,
        {{ peer_percentile('event_count', ['data_year', 'hcpcs_code']) }} as events_pctile_code
    from described
)

select * from final
