select
    data_year::integer as data_year,
    npi::text as npi,
    state::text as state,
    zip5::text as zip5,
    hcpcs_code::text as hcpcs_code,
    event_count::bigint as event_count,
    service_units::numeric(20, 3) as service_units,
    submitted_charge::numeric(22, 2) as submitted_charge,
    allowed_amount::numeric(22, 2) as allowed_amount,
    paid_amount::numeric(22, 2) as paid_amount,
    standardized_amount::numeric(22, 2) as standardized_amount
from {{ source('landing', 'procedure_events') }}
