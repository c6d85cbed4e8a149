{#- Contract v2 section 2 (provider facts) and section 4 (providers' state and ZIP): each value
    is the most frequent over the NPI's rows of the first dataset that has one (Part B, then
    Part D, then clinicians for the name), ties to the smallest. -#}

with

provider_rows as (
    select * from {{ ref('stg_landing__provider_rows') }}
),

ranked_sources as (
    select
        *,
        case dataset when 'part_b' then 1 when 'part_d' then 2 else 3 end as source_rank
    from provider_rows
),

providers as (
    select distinct
        data_year,
        npi
    from provider_rows
    where dataset in ('part_b', 'part_d')
),

name_weights as (
    select
        data_year,
        npi,
        source_rank,
        last_name,
        coalesce(first_name, '') as first_name,
        sum(row_count) as weight
    from ranked_sources
    where last_name is not null
    group by data_year, npi, source_rank, last_name, coalesce(first_name, '')
),

-- one row per NPI: its first dataset's most frequent pair, ties to the smallest pair
names as (
    select
        data_year,
        npi,
        last_name,
        first_name
    from (
        select
            *,
            row_number() over (
                partition by data_year, npi
                order by source_rank asc, weight desc, last_name asc, first_name asc
            ) as pick
        from name_weights
    ) as ranked
    where pick = 1
),

type_weights as (
    select
        data_year,
        npi,
        source_rank,
        provider_type,
        sum(row_count) as weight
    from ranked_sources
    where provider_type is not null and dataset in ('part_b', 'part_d')
    group by data_year, npi, source_rank, provider_type
),

provider_types as (
    select
        data_year,
        npi,
        (array_agg(provider_type order by source_rank asc, weight desc, provider_type asc))[1]
            as provider_type
    from type_weights
    group by data_year, npi
),

entity_weights as (
    select
        data_year,
        npi,
        entity_type,
        sum(row_count) as weight
    from provider_rows
    where entity_type is not null and dataset = 'part_b'
    group by data_year, npi, entity_type
),

entity_types as (
    select
        data_year,
        npi,
        {{ most_frequent('entity_type', 'weight') }} as entity_type
    from entity_weights
    group by data_year, npi
),

-- Part B: the (state, ZIP5) pair; Part D has no ZIP, so its pairs are (state, NULL)
place_weights as (
    select
        data_year,
        npi,
        source_rank,
        state,
        zip5,
        sum(row_count) as weight
    from ranked_sources
    where state is not null and dataset in ('part_b', 'part_d')
    group by data_year, npi, source_rank, state, zip5
),

places as (
    select
        data_year,
        npi,
        state,
        zip5
    from (
        select
            *,
            row_number() over (
                partition by data_year, npi
                order by source_rank asc, weight desc, state asc, zip5 asc nulls first
            ) as pick
        from place_weights
    ) as ranked
    where pick = 1
),

final as (
    select
        providers.data_year,
        providers.npi,
        entity_types.entity_type,
        provider_types.provider_type,
        places.state,
        places.zip5,
        case
            when names.last_name is null then null
            when entity_types.entity_type = 'O' or names.first_name = '' then names.last_name
            else names.last_name || ', ' || names.first_name
        end as display_name
    from providers
    left join names
        on providers.data_year = names.data_year and providers.npi = names.npi
    left join provider_types
        on providers.data_year = provider_types.data_year and providers.npi = provider_types.npi
    left join entity_types
        on providers.data_year = entity_types.data_year and providers.npi = entity_types.npi
    left join places
        on providers.data_year = places.data_year and providers.npi = places.npi
)

select * from final
