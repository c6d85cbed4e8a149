-- The nation holds every geography. An event has one state (or none) and at most one ZIP, so
-- per code and per drug the states' events, with the landed events that have no state, add up
-- to the nation's exactly, and the ZIPs' to at most the nation's. A clinician or a provider can
-- be counted in several states, so the states only bound theirs: no geography of any level has
-- more than the nation, and the nation has no more than the states together plus those with no
-- state. The nation's providers are the distinct NPIs of the landed Part B and Part D rows.
with

procedure_counts as (
    select * from {{ ref('procedure_counts') }}
),

prescription_counts as (
    select * from {{ ref('prescription_counts') }}
),

specialty_counts as (
    select * from {{ ref('specialty_counts') }}
),

medical_school_counts as (
    select * from {{ ref('medical_school_counts') }}
),

geo_summary as (
    select * from {{ ref('geo_summary') }}
),

landing_procedures as (
    select * from {{ ref('stg_landing__procedure_events') }}
),

landing_prescriptions as (
    select * from {{ ref('stg_landing__prescription_events') }}
),

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
),

provider_locations as (
    select * from {{ ref('stg_landing__provider_locations') }}
),

procedure_levels as (
    select
        data_year,
        hcpcs_code,
        sum(event_count) filter (where geo_level = 'nation') as nation_events,
        sum(event_count) filter (where geo_level = 'state') as state_events,
        sum(event_count) filter (where geo_level = 'zip') as zip_events,
        sum(service_units) filter (where geo_level = 'nation') as nation_units,
        sum(service_units) filter (where geo_level = 'state') as state_units
    from procedure_counts
    group by data_year, hcpcs_code
),

stateless_procedures as (
    select
        data_year,
        hcpcs_code,
        sum(event_count) as event_count,
        sum(service_units) as service_units
    from landing_procedures
    where state is null
    group by data_year, hcpcs_code
),

prescription_levels as (
    select
        data_year,
        generic_name,
        sum(claim_count) filter (where geo_level = 'nation') as nation_claims,
        sum(claim_count) filter (where geo_level = 'state') as state_claims,
        sum(claim_count) filter (where geo_level = 'zip') as zip_claims,
        sum(day_supply) filter (where geo_level = 'nation') as nation_days,
        sum(day_supply) filter (where geo_level = 'state') as state_days,
        sum(drug_cost) filter (where geo_level = 'nation') as nation_cost,
        sum(drug_cost) filter (where geo_level = 'state') as state_cost
    from prescription_counts
    group by data_year, generic_name
),

stateless_prescriptions as (
    select
        data_year,
        generic_name,
        sum(claim_count) as claim_count,
        sum(day_supply) as day_supply,
        sum(drug_cost) as drug_cost
    from landing_prescriptions
    where state is null
    group by data_year, generic_name
),

clinician_groups as (
    select
        data_year,
        'specialty_counts' as mart,
        specialty as item,
        geo_level,
        clinician_count
    from specialty_counts
    union all
    select
        data_year,
        'medical_school_counts' as mart,
        medical_school as item,
        geo_level,
        clinician_count
    from medical_school_counts
),

clinician_levels as (
    select
        data_year,
        mart,
        item,
        max(clinician_count) filter (where geo_level = 'nation') as nation_clinicians,
        max(clinician_count) filter (where geo_level <> 'nation') as largest_clinicians
    from clinician_groups
    group by data_year, mart, item
),

summary_levels as (
    select
        data_year,
        max(clinician_count) filter (where geo_level = 'nation') as nation_clinicians,
        max(procedure_events) filter (where geo_level = 'nation') as nation_events,
        max(prescription_claims) filter (where geo_level = 'nation') as nation_claims,
        max(drug_cost) filter (where geo_level = 'nation') as nation_cost,
        max(provider_count) filter (where geo_level = 'nation') as nation_providers,
        max(clinician_count) filter (where geo_level <> 'nation') as largest_clinicians,
        max(procedure_events) filter (where geo_level <> 'nation') as largest_events,
        max(prescription_claims) filter (where geo_level <> 'nation') as largest_claims,
        max(drug_cost) filter (where geo_level <> 'nation') as largest_cost,
        max(provider_count) filter (where geo_level <> 'nation') as largest_providers,
        sum(clinician_count) filter (where geo_level = 'state') as state_clinicians,
        sum(provider_count) filter (where geo_level = 'state') as state_providers
    from geo_summary
    group by data_year
),

clinician_states as (
    select
        data_year,
        npi,
        count(state) as states
    from clinician_rows
    group by data_year, npi
),

provider_rows as (
    select
        data_year,
        npi,
        state
    from provider_locations
    union all
    select
        data_year,
        npi,
        state
    from landing_prescriptions
),

provider_states as (
    select
        data_year,
        npi,
        count(state) as states
    from provider_rows
    group by data_year, npi
),

landed_clinicians as (
    select
        data_year,
        count(*) filter (where states = 0) as stateless_clinicians
    from clinician_states
    group by data_year
),

landed_providers as (
    select
        data_year,
        count(*) as providers,
        count(*) filter (where states = 0) as stateless_providers
    from provider_states
    group by data_year
),

violations as (
    select
        procedure_levels.data_year,
        'procedure_counts' as mart,
        procedure_levels.hcpcs_code as item
    from procedure_levels
    left join stateless_procedures
        on
            procedure_levels.data_year = stateless_procedures.data_year
            and procedure_levels.hcpcs_code = stateless_procedures.hcpcs_code
    where
        procedure_levels.nation_events is distinct from
        coalesce(procedure_levels.state_events, 0) + coalesce(stateless_procedures.event_count, 0)
        or procedure_levels.nation_units is distinct from
        coalesce(procedure_levels.state_units, 0) + coalesce(stateless_procedures.service_units, 0)
        or coalesce(procedure_levels.zip_events, 0) > procedure_levels.nation_events
    union all
    select
        prescription_levels.data_year,
        'prescription_counts' as mart,
        prescription_levels.generic_name as item
    from prescription_levels
    left join stateless_prescriptions
        on
            prescription_levels.data_year = stateless_prescriptions.data_year
            and prescription_levels.generic_name = stateless_prescriptions.generic_name
    where
        prescription_levels.nation_claims is distinct from
        coalesce(prescription_levels.state_claims, 0) + coalesce(stateless_prescriptions.claim_count, 0)
        or prescription_levels.nation_days is distinct from
        coalesce(prescription_levels.state_days, 0) + coalesce(stateless_prescriptions.day_supply, 0)
        or prescription_levels.nation_cost is distinct from
        coalesce(prescription_levels.state_cost, 0) + coalesce(stateless_prescriptions.drug_cost, 0)
        or coalesce(prescription_levels.zip_claims, 0) > prescription_levels.nation_claims
    union all
    select
        data_year,
        mart,
        item
    from clinician_levels
    where
        nation_clinicians is null
        or largest_clinicians > nation_clinicians
    union all
    select
        summary_levels.data_year,
        'geo_summary' as mart,
        '' as item
    from summary_levels
    left join landed_clinicians
        on summary_levels.data_year = landed_clinicians.data_year
    left join landed_providers
        on summary_levels.data_year = landed_providers.data_year
    where
        summary_levels.nation_clinicians is null
        or summary_levels.largest_clinicians > summary_levels.nation_clinicians
        or summary_levels.largest_events > summary_levels.nation_events
        or summary_levels.largest_claims > summary_levels.nation_claims
        or summary_levels.largest_cost > summary_levels.nation_cost
        or summary_levels.largest_providers > summary_levels.nation_providers
        or summary_levels.nation_clinicians
        > coalesce(summary_levels.state_clinicians, 0)
        + coalesce(landed_clinicians.stateless_clinicians, 0)
        or summary_levels.nation_providers
        > coalesce(summary_levels.state_providers, 0)
        + coalesce(landed_providers.stateless_providers, 0)
        or summary_levels.nation_providers is distinct from coalesce(landed_providers.providers, 0)
)

select * from violations
