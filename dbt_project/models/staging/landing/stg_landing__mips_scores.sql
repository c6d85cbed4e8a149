select
    data_year::integer as data_year,
    npi::text as npi,
    final_mips_score::double precision as final_mips_score
from {{ source('landing', 'mips_scores') }}
