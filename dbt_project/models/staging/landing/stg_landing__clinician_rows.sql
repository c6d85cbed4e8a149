select
    data_year::integer as data_year,
    npi::text as npi,
    specialty::text as specialty,
    medical_school::text as medical_school,
    practice_id::text as practice_id,
    practice_name::text as practice_name,
    state::text as state,
    zip5::text as zip5,
    row_count::bigint as row_count
from {{ source('landing', 'clinician_rows') }}
