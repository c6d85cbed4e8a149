select
    data_year::integer as data_year,
    dataset::text as dataset,
    npi::text as npi,
    last_name::text as last_name,
    first_name::text as first_name,
    provider_type::text as provider_type,
    entity_type::text as entity_type,
    state::text as state,
    zip5::text as zip5,
    row_count::bigint as row_count
from {{ source('landing', 'provider_rows') }}
