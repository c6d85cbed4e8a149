{{ config(post_hook=["{{ geo_index() }}"]) }}

with

clinician_geographies as (
    select * from {{ ref('int_clinician_geographies') }}
),

clinician_profiles as (
    select * from {{ ref('int_clinician_profiles') }}
),

counted as (
    select
        clinician_geographies.data_year,
        clinician_geographies.geo_level,
        clinician_geographies.geo_id,
        clinician_profiles.specialty,
        count(*) as clinician_count
    from clinician_geographies
    inner join clinician_profiles
        on
            clinician_geographies.data_year = clinician_profiles.data_year
            and clinician_geographies.npi = clinician_profiles.npi
    group by
        clinician_geographies.data_year,
        clinician_geographies.geo_level,
        clinician_geographies.geo_id,
        clinician_profiles.specialty
),

final as (
    select
        data_year,
        geo_level,
        geo_id,
        specialty,
        clinician_count,
        round(
            100.0 * clinician_count / nullif(
                sum(clinician_count) over (partition by data_year, geo_level, geo_id), 0
            ),
            6
        ) as pct_of_geo
    from counted
)

select * from final
