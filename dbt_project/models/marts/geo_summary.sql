{{ config(post_hook=["{{ geo_index() }}", "{{ practice_name_index() }}"]) }}

with

procedures_by_geo as (
    select * from {{ ref('int_procedure_events_by_geo') }}
),

prescriptions_by_geo as (
    select * from {{ ref('int_prescription_events_by_geo') }}
),

clinician_geographies as (
    select * from {{ ref('int_clinician_geographies') }}
),

clinician_profiles as (
    select * from {{ ref('int_clinician_profiles') }}
),

provider_geographies as (
    select * from {{ ref('int_provider_geographies') }}
),

practices as (
    select * from {{ ref('int_practices') }}
),

zip_states as (
    select * from {{ ref('int_zip_states') }}
),

geographies as (
    select
        data_year,
        geo_level,
        geo_id
    from procedures_by_geo
    union
    select
        data_year,
        geo_level,
        geo_id
    from prescriptions_by_geo
    union
    select
        data_year,
        geo_level,
        geo_id
    from clinician_geographies
    union
    select
        data_year,
        geo_level,
        geo_id
    from provider_geographies
),

procedure_totals as (
    select
        data_year,
        geo_level,
        geo_id,
        sum(event_count)::bigint as procedure_events,
        sum(paid_amount) as paid_amount
    from procedures_by_geo
    group by data_year, geo_level, geo_id
),

prescription_totals as (
    select
        data_year,
        geo_level,
        geo_id,
        sum(claim_count)::bigint as prescription_claims,
        sum(drug_cost) as drug_cost
    from prescriptions_by_geo
    group by data_year, geo_level, geo_id
),

clinician_totals as (
    select
        clinician_geographies.data_year,
        clinician_geographies.geo_level,
        clinician_geographies.geo_id,
        count(*) as clinician_count,
        -- numeric, so the mean does not depend on the order rows are added up
        round(avg(clinician_profiles.final_mips_score::numeric), 6) as avg_mips_score
    from clinician_geographies
    inner join clinician_profiles
        on
            clinician_geographies.data_year = clinician_profiles.data_year
            and clinician_geographies.npi = clinician_profiles.npi
    group by clinician_geographies.data_year, clinician_geographies.geo_level, clinician_geographies.geo_id
),

provider_totals as (
    select
        data_year,
        geo_level,
        geo_id,
        count(*) as provider_count
    from provider_geographies
    group by data_year, geo_level, geo_id
),

final as (
    select
        geographies.data_year,
        geographies.geo_level,
        geographies.geo_id,
        clinician_totals.avg_mips_score,
        case
            when geographies.geo_level = 'practice'
                then coalesce(practices.practice_name, geographies.geo_id)
            else geographies.geo_id
        end as display_name,
        case geographies.geo_level
            when 'state' then geographies.geo_id
            when 'zip' then zip_states.state
            when 'practice' then practices.state
        end as state,
        coalesce(clinician_totals.clinician_count, 0) as clinician_count,
        coalesce(procedure_totals.procedure_events, 0) as procedure_events,
        coalesce(prescription_totals.prescription_claims, 0) as prescription_claims,
        round(coalesce(procedure_totals.paid_amount, 0), 2) as paid_amount,
        round(coalesce(prescription_totals.drug_cost, 0), 2) as drug_cost,
        coalesce(provider_totals.provider_count, 0) as provider_count
    from geographies
    left join procedure_totals
        on
            geographies.data_year = procedure_totals.data_year
            and geographies.geo_level = procedure_totals.geo_level
            and geographies.geo_id = procedure_totals.geo_id
    left join prescription_totals
        on
            geographies.data_year = prescription_totals.data_year
            and geographies.geo_level = prescription_totals.geo_level
            and geographies.geo_id = prescription_totals.geo_id
    left join clinician_totals
        on
            geographies.data_year = clinician_totals.data_year
            and geographies.geo_level = clinician_totals.geo_level
            and geographies.geo_id = clinician_totals.geo_id
    left join provider_totals
        on
            geographies.data_year = provider_totals.data_year
            and geographies.geo_level = provider_totals.geo_level
            and geographies.geo_id = provider_totals.geo_id
    left join practices
        on
            geographies.geo_level = 'practice'
            and geographies.data_year = practices.data_year
            and geographies.geo_id = practices.practice_id
    left join zip_states
        on
            geographies.geo_level = 'zip'
            and geographies.data_year = zip_states.data_year
            and geographies.geo_id = zip_states.zip5
)

select * from final
