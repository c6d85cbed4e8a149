select
    data_year::integer as data_year,
    npi::text as npi,
    state::text as state,
    zip5::text as zip5,
    hcpcs_code::text as hcpcs_code,
    event_count::bigint as event_count,
    service_units::numeric(20, 3) as service_units
from {{ source('landing', 'procedure_events') }}
