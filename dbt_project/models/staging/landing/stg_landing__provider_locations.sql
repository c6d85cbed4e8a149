select
    data_year::integer as data_year,
    npi::text as npi,
    state::text as state,
    zip5::text as zip5,
    row_count::bigint as row_count
from {{ source('landing', 'provider_locations') }}
