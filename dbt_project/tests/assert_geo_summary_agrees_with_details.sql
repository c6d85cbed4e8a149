-- geo_summary's totals are the sums of the detail marts of the same geography, and every
-- geography of procedure_counts and prescription_counts has its geo_summary row (the
-- dashboard counts a code's or a drug's places without joining geo_summary).
with

summary as (
    select * from {{ ref('geo_summary') }}
),

procedures as (
    select
        data_year,
        geo_level,
        geo_id,
        sum(event_count) as total,
        sum(paid_amount) as paid_amount
    from {{ ref('procedure_counts') }}
    group by data_year, geo_level, geo_id
),

prescriptions as (
    select
        data_year,
        geo_level,
        geo_id,
        sum(claim_count) as total,
        sum(drug_cost) as drug_cost
    from {{ ref('prescription_counts') }}
    group by data_year, geo_level, geo_id
),

specialties as (
    select
        data_year,
        geo_level,
        geo_id,
        sum(clinician_count) as total
    from {{ ref('specialty_counts') }}
    group by data_year, geo_level, geo_id
),

schools as (
    select
        data_year,
        geo_level,
        geo_id,
        sum(clinician_count) as total
    from {{ ref('medical_school_counts') }}
    group by data_year, geo_level, geo_id
)

select
    summary.data_year,
    summary.geo_level,
    summary.geo_id
from summary
left join procedures using (data_year, geo_level, geo_id)
left join prescriptions using (data_year, geo_level, geo_id)
left join specialties using (data_year, geo_level, geo_id)
left join schools using (data_year, geo_level, geo_id)
where
    summary.procedure_events <> coalesce(procedures.total, 0)
    or summary.prescription_claims <> coalesce(prescriptions.total, 0)
    or summary.drug_cost <> coalesce(prescriptions.drug_cost, 0)
    or summary.paid_amount <> coalesce(procedures.paid_amount, 0)
    or summary.clinician_count <> coalesce(specialties.total, 0)
    or summary.clinician_count <> coalesce(schools.total, 0)

union all

select
    detail.data_year,
    detail.geo_level,
    detail.geo_id
from (
    select
        data_year,
        geo_level,
        geo_id
    from procedures
    union
    select
        data_year,
        geo_level,
        geo_id
    from prescriptions
) as detail
left join summary using (data_year, geo_level, geo_id)
where summary.geo_id is null
