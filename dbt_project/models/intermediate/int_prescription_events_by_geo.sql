with

prescription_events as (
    select * from {{ ref('stg_landing__prescription_events') }}
),

prescriber_zips as (
    select * from {{ ref('int_prescriber_zips') }}
),

practice_members as (
    select * from {{ ref('int_practice_members') }}
),

by_nation as (
    -- every event of the year, whatever its state (NULL included)
    select
        data_year,
        'nation' as geo_level,
        {{ nation_geo_id() }} as geo_id,
        generic_name,
        sum(claim_count)::bigint as claim_count,
        sum(day_supply)::bigint as day_supply,
        sum(drug_cost) as drug_cost
    from prescription_events
    group by data_year, generic_name
),

by_state as (
    select
        data_year,
        'state' as geo_level,
        state as geo_id,
        generic_name,
        sum(claim_count)::bigint as claim_count,
        sum(day_supply)::bigint as day_supply,
        sum(drug_cost) as drug_cost
    from prescription_events
    where state is not null
    group by data_year, state, generic_name
),

by_zip as (
    select
        prescription_events.data_year,
        'zip' as geo_level,
        prescriber_zips.zip5 as geo_id,
        prescription_events.generic_name,
        sum(prescription_events.claim_count)::bigint as claim_count,
        sum(prescription_events.day_supply)::bigint as day_supply,
        sum(prescription_events.drug_cost) as drug_cost
    from prescription_events
    inner join prescriber_zips
        on
            prescription_events.data_year = prescriber_zips.data_year
            and prescription_events.npi = prescriber_zips.npi
    where prescriber_zips.zip5 is not null
    group by prescription_events.data_year, prescriber_zips.zip5, prescription_events.generic_name
),

by_practice as (
    select
        prescription_events.data_year,
        'practice' as geo_level,
        practice_members.practice_id as geo_id,
        prescription_events.generic_name,
        sum(prescription_events.claim_count)::bigint as claim_count,
        sum(prescription_events.day_supply)::bigint as day_supply,
        sum(prescription_events.drug_cost) as drug_cost
    from prescription_events
    inner join practice_members
        on
            prescription_events.data_year = practice_members.data_year
            and prescription_events.npi = practice_members.npi
    group by
        prescription_events.data_year,
        practice_members.practice_id,
        prescription_events.generic_name
),

final as (
    select * from by_nation
    union all
    select * from by_state
    union all
    select * from by_zip
    union all
    select * from by_practice
)

select * from final
