with

clinician_rows as (
    select * from {{ ref('stg_landing__clinician_rows') }}
    where practice_id is not null
),

name_weights as (
    select
        data_year,
        practice_id,
        practice_name,
        sum(row_count) as weight
    from clinician_rows
    where nullif(trim(practice_name), '') is not null
    group by data_year, practice_id, practice_name
),

state_weights as (
    select
        data_year,
        practice_id,
        state,
        sum(row_count) as weight
    from clinician_rows
    where state is not null
    group by data_year, practice_id, state
),

practices as (
    select distinct
        data_year,
        practice_id
    from clinician_rows
),

names as (
    select
        data_year,
        practice_id,
        {{ most_frequent('practice_name', 'weight') }} as practice_name
    from name_weights
    group by data_year, practice_id
),

states as (
    select
        data_year,
        practice_id,
        {{ most_frequent('state', 'weight') }} as state
    from state_weights
    group by data_year, practice_id
),

final as (
    select
        practices.data_year,
        practices.practice_id,
        names.practice_name,
        states.state
    from practices
    left join names
        on practices.data_year = names.data_year and practices.practice_id = names.practice_id
    left join states
        on practices.data_year = states.data_year and practices.practice_id = states.practice_id
)

select * from final
