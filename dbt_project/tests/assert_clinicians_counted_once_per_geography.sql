-- Every clinician counts once per geography: the specialty counts of a geography add up to the
-- number of distinct NPIs with a clinicians row there (in the nation: in the clinicians file,
-- a clinician with rows in two states counting once).
with

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
),

expected as (
    select
        data_year,
        'nation' as geo_level,
        {{ nation_geo_id() }} as geo_id,
        count(distinct npi) as clinicians
    from clinician_rows
    group by data_year
    union all
    select
        data_year,
        'state' as geo_level,
        state as geo_id,
        count(distinct npi) as clinicians
    from clinician_rows
    where state is not null
    group by data_year, state
    union all
    select
        data_year,
        'zip' as geo_level,
        zip5,
        count(distinct npi) as clinicians
    from clinician_rows
    where zip5 is not null
    group by data_year, zip5
    union all
    select
        data_year,
        'practice' as geo_level,
        practice_id,
        count(distinct npi) as clinicians
    from clinician_rows
    where practice_id is not null
    group by data_year, practice_id
),

actual as (
    select
        data_year,
        geo_level,
        geo_id,
        sum(clinician_count) as clinicians
    from {{ ref('specialty_counts') }}
    group by data_year, geo_level, geo_id
)

select
    data_year,
    geo_level,
    geo_id,
    expected.clinicians as expected_clinicians,
    actual.clinicians as actual_clinicians
from expected
full outer join actual using (data_year, geo_level, geo_id)
where expected.clinicians is distinct from actual.clinicians
