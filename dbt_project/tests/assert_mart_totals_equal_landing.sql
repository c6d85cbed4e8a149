-- No event lost or counted twice: at nation, state and ZIP level the marts sum to the landed
-- events (the nation to all of them, whatever their state; its drug cost to the landed cost),
-- and so does every payment amount (NULL on both sides when no event has one).
{% set money = ['submitted_charge', 'allowed_amount', 'paid_amount', 'standardized_amount'] %}
with

landing_procedures as (
    select * from {{ ref('stg_landing__procedure_events') }}
),

landing_prescriptions as (
    select * from {{ ref('stg_landing__prescription_events') }}
),

prescriber_zips as (
    select * from {{ ref('int_prescriber_zips') }}
),

expected as (
    select
        data_year,
        'nation' as geo_level,
        'procedures' as measure,
        sum(event_count) as total
    from landing_procedures
    group by data_year
    union all
    select
        data_year,
        'nation' as geo_level,
        'claims' as measure,
        sum(claim_count) as total
    from landing_prescriptions
    group by data_year
    union all
    select
        data_year,
        'nation' as geo_level,
        'drug_cost' as measure,
        sum(drug_cost) as total
    from landing_prescriptions
    group by data_year
    union all
    select
        data_year,
        'state' as geo_level,
        'procedures' as measure,
        sum(event_count) as total
    from landing_procedures
    where state is not null
    group by data_year
    union all
    select
        data_year,
        'zip' as geo_level,
        'procedures' as measure,
        sum(event_count) as total
    from landing_procedures
    where zip5 is not null
    group by data_year
    union all
    select
        data_year,
        'state' as geo_level,
        'claims' as measure,
        sum(claim_count) as total
    from landing_prescriptions
    where state is not null
    group by data_year
    union all
    select
        landing_prescriptions.data_year,
        'zip' as geo_level,
        'claims' as measure,
        sum(landing_prescriptions.claim_count) as total
    from landing_prescriptions
    inner join prescriber_zips
        on
            landing_prescriptions.data_year = prescriber_zips.data_year
            and landing_prescriptions.npi = prescriber_zips.npi
    where prescriber_zips.zip5 is not null
    group by landing_prescriptions.data_year
    {%- for amount in money %}
        union all
        select
            data_year,
            'nation' as geo_level,
            '{{ amount }}' as measure,
            sum({{ amount }}) as total
        from landing_procedures
        group by data_year
        union all
        select
            data_year,
            'state' as geo_level,
            '{{ amount }}' as measure,
            sum({{ amount }}) as total
        from landing_procedures
        where state is not null
        group by data_year
        union all
        select
            data_year,
            'zip' as geo_level,
            '{{ amount }}' as measure,
            sum({{ amount }}) as total
        from landing_procedures
        where zip5 is not null
        group by data_year
    {%- endfor %}
),

actual as (
    select
        data_year,
        geo_level,
        'procedures' as measure,
        sum(event_count) as total
    from {{ ref('procedure_counts') }}
    where geo_level in ('nation', 'state', 'zip')
    group by data_year, geo_level
    union all
    select
        data_year,
        geo_level,
        'claims' as measure,
        sum(claim_count) as total
    from {{ ref('prescription_counts') }}
    where geo_level in ('nation', 'state', 'zip')
    group by data_year, geo_level
    union all
    select
        data_year,
        geo_level,
        'drug_cost' as measure,
        sum(drug_cost) as total
    from {{ ref('prescription_counts') }}
    where geo_level = 'nation'
    group by data_year, geo_level
    {%- for amount in money %}
        union all
        select
            data_year,
            geo_level,
            '{{ amount }}' as measure,
            sum({{ amount }}) as total
        from {{ ref('procedure_counts') }}
        where geo_level in ('nation', 'state', 'zip')
        group by data_year, geo_level
    {%- endfor %}
)

select
    expected.total as expected_total,
    actual.total as actual_total,
    coalesce(expected.data_year, actual.data_year) as data_year,
    coalesce(expected.geo_level, actual.geo_level) as geo_level,
    coalesce(expected.measure, actual.measure) as measure
from expected
full outer join actual
    on
        expected.data_year = actual.data_year
        and expected.geo_level = actual.geo_level
        and expected.measure = actual.measure
where expected.total is distinct from actual.total
