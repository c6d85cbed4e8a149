with

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
),

practice_members as (
    select * from {{ ref('int_practice_members') }}
),

final as (
    select
        data_year,
        'nation' as geo_level,
        {{ nation_geo_id() }} as geo_id,
        npi
    from clinician_rows
    union
    select
        data_year,
        'state' as geo_level,
        state as geo_id,
        npi
    from clinician_rows
    where state is not null
    union
    select
        data_year,
        'zip' as geo_level,
        zip5 as geo_id,
        npi
    from clinician_rows
    where zip5 is not null
    union
    select
        data_year,
        'practice' as geo_level,
        practice_id as geo_id,
        npi
    from practice_members
)

select * from final
