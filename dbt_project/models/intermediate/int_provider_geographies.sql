with

provider_locations as (
    select * from {{ ref('stg_landing__provider_locations') }}
),

provider_rows as (
    select * from {{ ref('stg_landing__provider_rows') }}
),

prescriber_zips as (
    select * from {{ ref('int_prescriber_zips') }}
),

practice_members as (
    select * from {{ ref('int_practice_members') }}
),

-- every Part D row, with prescription events or not (a row of 0 claims has none)
prescriber_states as (
    select distinct
        data_year,
        npi,
        state
    from provider_rows
    where dataset = 'part_d'
),

-- Where each provider's rows are counted: a part_b row at its own state and ZIP5, a part_d
-- row at its own state and at the prescriber's ZIP5 (the ZIP its prescription events get).
provider_places as (
    select
        data_year,
        npi,
        state,
        zip5
    from provider_locations
    union
    select
        prescriber_states.data_year,
        prescriber_states.npi,
        prescriber_states.state,
        prescriber_zips.zip5
    from prescriber_states
    left join prescriber_zips
        on
            prescriber_states.data_year = prescriber_zips.data_year
            and prescriber_states.npi = prescriber_zips.npi
),

providers as (
    select distinct
        data_year,
        npi
    from provider_places
),

final as (
    select
        data_year,
        'nation' as geo_level,
        {{ nation_geo_id() }} as geo_id,
        npi
    from providers
    union
    select
        data_year,
        'state' as geo_level,
        state as geo_id,
        npi
    from provider_places
    where state is not null
    union
    select
        data_year,
        'zip' as geo_level,
        zip5 as geo_id,
        npi
    from provider_places
    where zip5 is not null
    union
    select
        providers.data_year,
        'practice' as geo_level,
        practice_members.practice_id as geo_id,
        providers.npi
    from providers
    inner join practice_members
        on
            providers.data_year = practice_members.data_year
            and providers.npi = practice_members.npi
)

select * from final
