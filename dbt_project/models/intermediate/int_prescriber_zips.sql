with

prescription_events as (
    select * from {{ ref('stg_landing__prescription_events') }}
),

provider_locations as (
    select * from {{ ref('stg_landing__provider_locations') }}
),

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
),

prescribers as (
    select distinct
        data_year,
        npi
    from prescription_events
),

part_b_providers as (
    select distinct
        data_year,
        npi
    from provider_locations
),

part_b_weights as (
    select
        data_year,
        npi,
        zip5,
        sum(row_count) as weight
    from provider_locations
    where zip5 is not null
    group by data_year, npi, zip5
),

clinician_weights as (
    select
        data_year,
        npi,
        zip5,
        sum(row_count) as weight
    from clinician_rows
    where zip5 is not null
    group by data_year, npi, zip5
),

part_b_zips as (
    select
        data_year,
        npi,
        {{ most_frequent('zip5', 'weight') }} as zip5
    from part_b_weights
    group by data_year, npi
),

clinician_zips as (
    select
        data_year,
        npi,
        {{ most_frequent('zip5', 'weight') }} as zip5
    from clinician_weights
    group by data_year, npi
),

final as (
    select
        prescribers.data_year,
        prescribers.npi,
        case
            when part_b_providers.npi is not null then part_b_zips.zip5
            else clinician_zips.zip5
        end as zip5
    from prescribers
    left join part_b_providers
        on
            prescribers.data_year = part_b_providers.data_year
            and prescribers.npi = part_b_providers.npi
    left join part_b_zips
        on prescribers.data_year = part_b_zips.data_year and prescribers.npi = part_b_zips.npi
    left join clinician_zips
        on
            prescribers.data_year = clinician_zips.data_year
            and prescribers.npi = clinician_zips.npi
)

select * from final
