with

provider_locations as (
    select * from {{ ref('stg_landing__provider_locations') }}
),

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
),

located_rows as (
    select
        data_year,
        zip5,
        state,
        row_count
    from provider_locations
    where zip5 is not null and state is not null
    union all
    select
        data_year,
        zip5,
        state,
        row_count
    from clinician_rows
    where zip5 is not null and state is not null
),

state_weights as (
    select
        data_year,
        zip5,
        state,
        sum(row_count) as weight
    from located_rows
    group by data_year, zip5, state
),

final as (
    select
        data_year,
        zip5,
        {{ most_frequent('state', 'weight') }} as state
    from state_weights
    group by data_year, zip5
)

select * from final
