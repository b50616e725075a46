{{
    config(
        materialized='incremental',
        incremental_strategy='evcap_replace_since',
        evcap_time_column='interval_start',
        evcap_group_column='grid_id',
        unique_key=['grid_id', 'transformer_id', 'interval_start'],
        on_schema_change='append_new_columns',
        indexes=[
            {
                'columns': ['grid_id', 'transformer_id', 'interval_start'],
                'unique': true,
            },
            {'columns': ['interval_start']},
        ],
        pre_hook=[
            "{{ evcap_set_work_mem() }}",
            "{{ evcap_prefer_hash_aggregate() }}",
        ],
        post_hook=["{{ evcap_refresh_transformer_attributes(this) }}"],
    )
}}

{#-
    Load of every transformer in every interval: the net average kW of all
    meters downstream (consumer - producer). Sums, counts and maxima add up,
    so the roll-up runs in two steps, single-threaded (a lateral read with an
    outer reference is parallel-unsafe) but without one giant aggregate:

    1. fed: for each transformer that feeds meters directly, its meters' data
       sources are read (latest version of every reading, checked by the
       shared rules in macros/evcap_meter_readings.sql, once per reading)
       and summed per interval: one small, cache-resident hash table per
       transformer. Only intervals with a valid reading are kept.
    2. every transformer adds up the step-1 rows of the feeding transformers
       below it and of itself (int_transformer_ancestors). A transformer fed
       by one of them only takes its rows as they are; only the few with
       several (substations) aggregate.

    Everything is keyed by integer transformer keys; names and capacities are
    joined at the end.

    Incremental runs recompute, grid by grid, every interval from the grid's
    cut-off on: its latest built interval minus var('lookback_hours'), so late
    and corrected readings are picked up. A grid with nothing built yet (new)
    is read whole; one grid lagging or new never makes the others recompute.
    The cut-off reaches ts_data_source_select as its timerange; the strategy
    evcap_replace_since replaces each grid's rows from its first recomputed
    interval on.
-#}

{#- Incremental runs read each data source from its grid's cut-off on. -#}
{%- set starting_at = (
    'data_sources.starting_at' if is_incremental() else none
) %}

{#-
    The small tables are read where they are used (no shared import CTEs): a
    CTE used twice is materialized without statistics, and the joins against
    millions of rows below must be planned from the real row counts.
-#}


{#-
    Validity and kW computed in the same pass as the dedupe, once per reading
    (null for a rejected reading), so the aggregates only filter on a boolean
    of the data source.
-#}
{%- set avg_kw_column -%}
    case
        when {{ evcap_reading_is_valid(
            'ts.value', 'ts.period', 'ts.timestamp', 'data_sources.valid_during'
        ) }}
            then {{ evcap_average_kw('ts.value', 'ts.period') }}
    end as avg_kw
{%- endset %}

with

meters_expected as (

    select
        grid_id,
        transformer_id,
        count(*) filter (where has_consumer_source) as meters_expected
    from {{ ref('int_meters_mapped_to_transformers') }}
    group by grid_id, transformer_id

),

transformers as (

    select
        ancestry.transformer_key,
        dim.grid_id,
        dim.transformer_id,
        dim.capacity_kw,
        dim.capacity_budget,
        coalesce(meters_expected.meters_expected, 0) as meters_expected
    from {{ ref('dim_transformers') }} as dim
    inner join {{ ref('int_transformer_ancestors') }} as ancestry
        on
            dim.grid_id = ancestry.grid_id
            and dim.transformer_id = ancestry.transformer_id
            and ancestry.levels_up = 0
    left join meters_expected
        on
            dim.grid_id = meters_expected.grid_id
            and dim.transformer_id = meters_expected.transformer_id

),

{%- if is_incremental() %}

    grid_cutoffs as (

        select
            grids.grid_id,
            coalesce(
                built.latest_start
                - interval '{{ var("lookback_hours") }} hours',
                '-infinity'
            ) as starting_at
        from (
            select distinct grid_id
            from {{ ref('int_meters_mapped_to_transformers') }}
        ) as grids
        left join lateral (
            {#- backwards along the unique index: one row per grid -#}
            select loaded.interval_start as latest_start
            from {{ this }} as loaded
            where loaded.grid_id = grids.grid_id
            order by loaded.interval_start desc
            limit 1
        ) as built on true

    ),
{%- endif %}

-- each meter's CONSUMER / PRODUCER data source, at its feeding transformer
data_sources as (

    select
        ancestry.transformer_key as feeding_key,
        data_sources.data_source_id,
        data_sources.source_type = 'CONSUMER' as is_consumer,
        {%- if is_incremental() %}
            grid_cutoffs.starting_at,
        {%- endif %}
        data_sources.valid_during
    from {{ ref('stg_edm__data_sources') }} as data_sources
    inner join {{ ref('int_meters_mapped_to_transformers') }} as meter_map
        on
            data_sources.grid_id = meter_map.grid_id
            and data_sources.element_id = meter_map.meter_id
            and meter_map.level = 1
    inner join {{ ref('int_transformer_ancestors') }} as ancestry
        on
            meter_map.grid_id = ancestry.grid_id
            and meter_map.transformer_id = ancestry.transformer_id
            and ancestry.levels_up = 0
    {%- if is_incremental() %}
        inner join grid_cutoffs
            on data_sources.grid_id = grid_cutoffs.grid_id
    {%- endif %}
    where data_sources.source_type in ('CONSUMER', 'PRODUCER')

),

feeding_transformers as (

    select distinct feeding_key
    from data_sources

),

fed as materialized (

    select
        feeding_transformers.feeding_key,
        per_interval.interval_start,
        per_interval.period_s,
        per_interval.consumer_kw,
        per_interval.producer_kw,
        per_interval.meters_reporting
    from feeding_transformers
    cross join lateral (
        select
            readings.interval_start,
            max(readings.period_s) filter (
                where readings.avg_kw is not null
            ) as period_s,
            sum(readings.avg_kw) filter (
                where data_sources.is_consumer
            ) as consumer_kw,
            sum(readings.avg_kw) filter (
                where not data_sources.is_consumer
            ) as producer_kw,
            cast(
                count(readings.avg_kw) filter (
                    where data_sources.is_consumer
                ) as integer
            ) as meters_reporting
        from data_sources
        cross join
            lateral
            {{ evcap_latest_readings(
                'data_sources.data_source_id',
                'kWh',
                starting_at,
                extra_columns=[avg_kw_column],
            ) }} as readings
        where data_sources.feeding_key
            = feeding_transformers.feeding_key
        group by readings.interval_start
        -- rows only where at least one reading is valid
        having count(readings.avg_kw) > 0
    ) as per_interval

),

rolled_up as (

    select
        ancestry.ancestor_key as transformer_key,
        fed.interval_start,
        fed.period_s,
        fed.consumer_kw,
        fed.producer_kw,
        fed.meters_reporting
    from fed
    inner join {{ ref('int_transformer_ancestors') }} as ancestry
        on fed.feeding_key = ancestry.transformer_key
    where ancestry.ancestor_feeding_transformers = 1

    union all

    select
        ancestry.ancestor_key as transformer_key,
        fed.interval_start,
        max(fed.period_s) as period_s,
        sum(fed.consumer_kw) as consumer_kw,
        sum(fed.producer_kw) as producer_kw,
        sum(fed.meters_reporting) as meters_reporting
    from fed
    inner join {{ ref('int_transformer_ancestors') }} as ancestry
        on fed.feeding_key = ancestry.transformer_key
    where ancestry.ancestor_feeding_transformers > 1
    group by ancestry.ancestor_key, fed.interval_start

),

final as (

    select
        transformers.grid_id,
        transformers.transformer_id,
        rolled_up.interval_start,
        rolled_up.interval_start at time zone '{{ var("local_timezone") }}'
            as interval_local,
        rolled_up.period_s,
        coalesce(rolled_up.consumer_kw, 0)
        - coalesce(rolled_up.producer_kw, 0) as load_kw,
        coalesce(rolled_up.consumer_kw, 0) as consumer_kw,
        coalesce(rolled_up.producer_kw, 0) as producer_kw,
        cast(rolled_up.meters_reporting as integer) as meters_reporting,
        cast(transformers.meters_expected as integer) as meters_expected,
        rolled_up.meters_reporting
        / cast(nullif(transformers.meters_expected, 0) as float8)
            as meter_coverage,
        transformers.capacity_kw,
        transformers.capacity_kw
        - (
            coalesce(rolled_up.consumer_kw, 0)
            - coalesce(rolled_up.producer_kw, 0)
        ) as headroom_kw,
        (
            transformers.capacity_kw
            - (
                coalesce(rolled_up.consumer_kw, 0)
                - coalesce(rolled_up.producer_kw, 0)
            )
        ) * transformers.capacity_budget as budgeted_headroom_kw,
        {{ evcap_run_started_at() }} as rebuilt_at
    from (
        {#-
            Written in the order of the unique index (transformer keys follow
            grid_id, transformer_id), so building it reads presorted keys:
            sorting two integers here is cheaper than sorting text there.
        -#}
        select * from rolled_up
        order by transformer_key asc, interval_start asc
    ) as rolled_up
    inner join transformers
        on rolled_up.transformer_key = transformers.transformer_key

)

select * from final
