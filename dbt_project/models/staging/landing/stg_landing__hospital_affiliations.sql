select
    data_year::integer as data_year,
    npi::text as npi,
    facility_ccn::text as facility_ccn,
    facility_type::text as facility_type,
    facility_name::text as facility_name
from {{ source('landing', 'hospital_affiliations') }}
