with

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
),

mips_scores as (
    select * from {{ ref('stg_landing__mips_scores') }}
),

specialty_weights as (
    select
        data_year,
        npi,
        specialty,
        sum(row_count) as weight
    from clinician_rows
    group by data_year, npi, specialty
),

school_weights as (
    select
        data_year,
        npi,
        medical_school,
        sum(row_count) as weight
    from clinician_rows
    group by data_year, npi, medical_school
),

specialties as (
    select
        data_year,
        npi,
        {{ most_frequent('specialty', 'weight') }} as specialty
    from specialty_weights
    group by data_year, npi
),

schools as (
    select
        data_year,
        npi,
        {{ most_frequent('medical_school', 'weight') }} as medical_school
    from school_weights
    group by data_year, npi
),

final as (
    select
        specialties.data_year,
        specialties.npi,
        specialties.specialty,
        schools.medical_school,
        mips_scores.final_mips_score
    from specialties
    inner join schools
        on specialties.data_year = schools.data_year and specialties.npi = schools.npi
    left join mips_scores
        on specialties.data_year = mips_scores.data_year and specialties.npi = mips_scores.npi
)

select * from final
