-- pct_of_geo adds up to 100 (±0.01) in every group of every mart that has it.
with

groups as (
    select
        'procedure_counts' as mart,
        data_year,
        geo_level,
        geo_id,
        is_drug::text as part,
        sum(pct_of_geo) as total
    from {{ ref('procedure_counts') }}
    group by data_year, geo_level, geo_id, is_drug
    union all
    select
        'prescription_counts' as mart,
        data_year,
        geo_level,
        geo_id,
        '' as part,
        sum(pct_of_geo) as total
    from {{ ref('prescription_counts') }}
    group by data_year, geo_level, geo_id
    union all
    select
        'specialty_counts' as mart,
        data_year,
        geo_level,
        geo_id,
        '' as part,
        sum(pct_of_geo) as total
    from {{ ref('specialty_counts') }}
    group by data_year, geo_level, geo_id
    union all
    select
        'medical_school_counts' as mart,
        data_year,
        geo_level,
        geo_id,
        '' as part,
        sum(pct_of_geo) as total
    from {{ ref('medical_school_counts') }}
    group by data_year, geo_level, geo_id
)

select * from groups
where abs(total - 100) > 0.01
