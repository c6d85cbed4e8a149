-- The provider marts agree with each other and with the nation: every provider's totals are
-- the sums of its procedure and prescription rows, its shares add up to 100 (±0.01) per
-- provider and kind, and the providers add up to the nation's row of geo_summary.
with

providers as (
    select * from {{ ref('providers') }}
),

procedures as (
    select
        data_year,
        npi,
        sum(event_count) as procedure_events,
        sum(paid_amount) as paid_amount
    from {{ ref('provider_procedures') }}
    group by data_year, npi
),

prescriptions as (
    select
        data_year,
        npi,
        sum(claim_count) as prescription_claims,
        sum(drug_cost) as drug_cost
    from {{ ref('provider_prescriptions') }}
    group by data_year, npi
),

procedure_shares as (
    select
        data_year,
        npi,
        is_drug,
        sum(pct_of_provider) as total
    from {{ ref('provider_procedures') }}
    group by data_year, npi, is_drug
),

prescription_shares as (
    select
        data_year,
        npi,
        sum(pct_of_provider) as total
    from {{ ref('provider_prescriptions') }}
    group by data_year, npi
),

nation as (
    select
        data_year,
        procedure_events,
        prescription_claims,
        paid_amount,
        drug_cost,
        provider_count
    from {{ ref('geo_summary') }}
    where geo_level = 'nation'
),

provider_sums as (
    select
        data_year,
        sum(procedure_events) as procedure_events,
        sum(prescription_claims) as prescription_claims,
        coalesce(sum(paid_amount), 0) as paid_amount,
        sum(drug_cost) as drug_cost,
        count(*) as provider_count
    from providers
    group by data_year
),

problems as (
    select
        'totals' as problem,
        providers.data_year,
        providers.npi
    from providers
    left join procedures
        on providers.data_year = procedures.data_year and providers.npi = procedures.npi
    left join prescriptions
        on providers.data_year = prescriptions.data_year and providers.npi = prescriptions.npi
    where
        providers.procedure_events != coalesce(procedures.procedure_events, 0)
        or providers.prescription_claims != coalesce(prescriptions.prescription_claims, 0)
        or providers.drug_cost != coalesce(prescriptions.drug_cost, 0)
        or providers.paid_amount is distinct from coalesce(
            procedures.paid_amount, case when procedures.npi is null then 0 end
        )
    union all
    select
        'procedure shares' as problem,
        data_year,
        npi
    from procedure_shares
    where abs(total - 100) > 0.01
    union all
    select
        'prescription shares' as problem,
        data_year,
        npi
    from prescription_shares
    where abs(total - 100) > 0.01
    union all
    select
        'nation' as problem,
        nation.data_year,
        null as npi
    from nation
    left join provider_sums on nation.data_year = provider_sums.data_year
    where
        nation.procedure_events != coalesce(provider_sums.procedure_events, 0)
        or nation.prescription_claims != coalesce(provider_sums.prescription_claims, 0)
        or nation.paid_amount != coalesce(provider_sums.paid_amount, 0)
        or nation.drug_cost != coalesce(provider_sums.drug_cost, 0)
        or nation.provider_count != coalesce(provider_sums.provider_count, 0)
)

select * from problems
