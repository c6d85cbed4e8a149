with

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
),

final as (
    select distinct
        data_year,
        practice_id,
        npi
    from clinician_rows
    where practice_id is not null
)

select * from final
