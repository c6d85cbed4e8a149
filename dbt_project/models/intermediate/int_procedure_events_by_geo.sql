with

procedure_events as (
    select * from {{ ref('stg_landing__procedure_events') }}
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
        hcpcs_code,
        sum(event_count)::bigint as event_count,
        sum(service_units) as service_units,
        sum(submitted_charge) as submitted_charge,
        sum(allowed_amount) as allowed_amount,
        sum(paid_amount) as paid_amount,
        sum(standardized_amount) as standardized_amount
    from procedure_events
    group by data_year, hcpcs_code
),

by_state as (
    select
        data_year,
        'state' as geo_level,
        state as geo_id,
        hcpcs_code,
        sum(event_count)::bigint as event_count,
        sum(service_units) as service_units,
        sum(submitted_charge) as submitted_charge,
        sum(allowed_amount) as allowed_amount,
        sum(paid_amount) as paid_amount,
        sum(standardized_amount) as standardized_amount
    from procedure_events
    where state is not null
    group by data_year, state, hcpcs_code
),

by_zip as (
    select
        data_year,
        'zip' as geo_level,
        zip5 as geo_id,
        hcpcs_code,
        sum(event_count)::bigint as event_count,
        sum(service_units) as service_units,
        sum(submitted_charge) as submitted_charge,
        sum(allowed_amount) as allowed_amount,
        sum(paid_amount) as paid_amount,
        sum(standardized_amount) as standardized_amount
    from procedure_events
    where zip5 is not null
    group by data_year, zip5, hcpcs_code
),

by_practice as (
    select
        procedure_events.data_year,
        'practice' as geo_level,
        practice_members.practice_id as geo_id,
        procedure_events.hcpcs_code,
        sum(procedure_events.event_count)::bigint as event_count,
        sum(procedure_events.service_units) as service_units,
        sum(procedure_events.submitted_charge) as submitted_charge,
        sum(procedure_events.allowed_amount) as allowed_amount,
        sum(procedure_events.paid_amount) as paid_amount,
        sum(procedure_events.standardized_amount) as standardized_amount
    from procedure_events
    inner join practice_members
        on
            procedure_events.data_year = practice_members.data_year
            and procedure_events.npi = practice_members.npi
    group by procedure_events.data_year, practice_members.practice_id, procedure_events.hcpcs_code
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
