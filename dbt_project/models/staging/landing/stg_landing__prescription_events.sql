select
    data_year::integer as data_year,
    npi::text as npi,
    state::text as state,
    generic_name::text as generic_name,
    claim_count::bigint as claim_count,
    day_supply::bigint as day_supply,
    drug_cost::numeric(20, 2) as drug_cost
from {{ source('landing', 'prescription_events') }}
