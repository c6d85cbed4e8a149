{{ config(post_hook=["create index on {{ this }} (data_year, practice_id)"]) }}

with

practice_members as (
    select * from {{ ref('int_practice_members') }}
),

affiliations as (
    select * from {{ ref('stg_landing__hospital_affiliations') }}
),

facilities as (
    -- A CCN's type and name as the affiliation rows give them; where rows disagree, the
    -- alphabetically smallest, so the result does not depend on row order.
    select
        data_year,
        facility_ccn,
        min(facility_type) as facility_type,
        min(facility_name) as facility_name
    from affiliations
    group by data_year, facility_ccn
),

member_affiliations as (
    select
        practice_members.data_year,
        practice_members.practice_id,
        affiliations.facility_ccn,
        count(distinct practice_members.npi) as clinician_count
    from practice_members
    inner join affiliations
        on
            practice_members.data_year = affiliations.data_year
            and practice_members.npi = affiliations.npi
    group by practice_members.data_year, practice_members.practice_id, affiliations.facility_ccn
),

final as (
    select
        member_affiliations.data_year,
        member_affiliations.practice_id,
        member_affiliations.facility_ccn,
        facilities.facility_type,
        facilities.facility_name,
        member_affiliations.clinician_count
    from member_affiliations
    inner join facilities
        on
            member_affiliations.data_year = facilities.data_year
            and member_affiliations.facility_ccn = facilities.facility_ccn
)

select * from final
