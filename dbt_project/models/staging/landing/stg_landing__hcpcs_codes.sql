select
    data_year::integer as data_year,
    hcpcs_code::text as hcpcs_code,
    hcpcs_description::text as hcpcs_description,
    is_drug::boolean as is_drug
from {{ source('landing', 'hcpcs_codes') }}
