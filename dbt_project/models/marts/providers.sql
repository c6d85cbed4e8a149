{{ config(post_hook=[
    "create index on {{ this }} (npi, data_year)",
    "{{ provider_name_index() }}",
    "create index on {{ this }} (data_year, state, provider_type)",
    "create index on {{ this }} (data_year, provider_type) include (state, paid_amount, prescription_claims)",
    "create index on {{ this }} (data_year, zip5)",
    "create index on {{ this }} using gin (practice_ids)",
]) }}

with

provider_facts as (
    select * from {{ ref('int_provider_facts') }}
),

procedure_events as (
    select * from {{ ref('stg_landing__procedure_events') }}
),

prescription_events as (
    select * from {{ ref('stg_landing__prescription_events') }}
),

clinician_profiles as (
    select * from {{ ref('int_clinician_profiles') }}
),

mips_scores as (
    select * from {{ ref('stg_landing__mips_scores') }}
),

practice_members as (
    select * from {{ ref('int_practice_members') }}
),

procedure_totals as (
    select
        data_year,
        npi,
        sum(event_count)::bigint as procedure_events,
        sum(service_units) as service_units,
        sum(paid_amount) as paid_amount,
        sum(allowed_amount) as allowed_amount
    from procedure_events
    group by data_year, npi
),

prescription_totals as (
    select
        data_year,
        npi,
        sum(claim_count)::bigint as prescription_claims,
        sum(drug_cost) as drug_cost
    from prescription_events
    group by data_year, npi
),

practices as (
    select
        data_year,
        npi,
        array_agg(practice_id order by practice_id) as practice_ids
    from practice_members
    group by data_year, npi
),

measured as (
    select
        provider_facts.data_year,
        provider_facts.npi,
        provider_facts.display_name,
        provider_facts.entity_type,
        provider_facts.provider_type,
        clinician_profiles.specialty as primary_specialty,
        provider_facts.state,
        provider_facts.zip5,
        mips_scores.final_mips_score as mips_score,
        coalesce(practices.practice_ids, '{}'::text[]) as practice_ids,
        coalesce(procedure_totals.procedure_events, 0) as procedure_events,
        coalesce(procedure_totals.service_units, 0) as service_units,
        -- 0 without events; NULL when it has events and none of them carries the amount
        case
            when procedure_totals.npi is null then 0.00 else round(procedure_totals.paid_amount, 2)
        end as paid_amount,
        case
            when procedure_totals.npi is null then 0.00 else round(procedure_totals.allowed_amount, 2)
        end as allowed_amount,
        coalesce(prescription_totals.prescription_claims, 0) as prescription_claims,
        round(coalesce(prescription_totals.drug_cost, 0), 2) as drug_cost
    from provider_facts
    left join procedure_totals
        on
            provider_facts.data_year = procedure_totals.data_year
            and provider_facts.npi = procedure_totals.npi
    left join prescription_totals
        on
            provider_facts.data_year = prescription_totals.data_year
            and provider_facts.npi = prescription_totals.npi
    left join clinician_profiles
        on
            provider_facts.data_year = clinician_profiles.data_year
            and provider_facts.npi = clinician_profiles.npi
    left join mips_scores
        on
            provider_facts.data_year = mips_scores.data_year
            and provider_facts.npi = mips_scores.npi
    left join practices
        on
            provider_facts.data_year = practices.data_year
            and provider_facts.npi = practices.npi
),

final as (
    select
        data_year,
        npi,
        display_name,
        entity_type,
        provider_type,
        primary_specialty,
        state,
        zip5,
        practice_ids,
        procedure_events,
        service_units,
        paid_amount,
        allowed_amount,
        prescription_claims,
        drug_cost,
        mips_score,
        {{ peer_percentile('paid_amount', ['data_year', 'provider_type', 'state']) }}
            as paid_pctile_state,
        {{ peer_percentile('paid_amount', ['data_year', 'provider_type']) }}
            as paid_pctile_nation,
        {{ peer_percentile('prescription_claims', ['data_year', 'provider_type']) }}
            as claims_pctile_nation
    from measured
)

select * from final
