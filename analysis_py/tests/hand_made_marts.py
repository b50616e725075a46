"""Hand-made mart tables with the contract's columns, for plot and report tests.

Small, readable rows (not a dbt build) so the tests can state exact expected
values; the real-build tests live in test_dbt_models and test_report.
"""

from __future__ import annotations

import psycopg

MARTS_SQL = """
create schema {s};

create table {s}.charging_windows (
    window_name text, description text, month_start int, month_end int,
    hour_start int, hour_end int, isodow_start int, isodow_end int);
insert into {s}.charging_windows values
    ('all_time', 'every interval', null, null, null, null, null, null),
    ('nightly', 'local 22:00-04:59', null, null, 22, 4, null, null),
    ('summer', 'June-September', 6, 9, null, null, null, null),
    ('summer_nightly', 'summer nights', 6, 9, 22, 4, null, null);

create table {s}.charger_types (
    charger_type text, description text, power_kw float8, voltage_v float8,
    phases_required int);
insert into {s}.charger_types values
    ('level2_7kw', 'Level 2, 7.2 kW', 7.2, 240, 1),
    ('level2_19kw', 'Level 2, 19.2 kW', 19.2, 240, 1),
    ('dcfc_50kw', 'DC fast, 50 kW', 50, 480, 3);

create table {s}.dim_transformers as
select * from (values
    ('g1', 'SUB1', 'HV/MV', 'ABC', 500.0, 'meta', 600.0, 25000.0, 'pad',
     49.2800, -123.1200, null, 0, 0, 40, 0.98, 490.0, 1.0, true, null),
    ('g1', 'T1', 'MV/LV', 'ABC', 75.0, 'meta', 600.0, 12470.0, 'pad',
     49.2810, -123.1150, 'SUB1', 1, 12, 12, 0.98, 73.5, 1.0, true, null),
    ('g1', 'T2', 'MV/LV', 'A', 50.0, 'meta', 240.0, 12470.0, 'pole',
     49.2790, -123.1240, 'SUB1', 1, 10, 10, 0.98, 49.0, 1.0, true, null),
    ('g1', 'T3', 'MV/LV', 'A', 25.0, 'override', 240.0, 12470.0, 'pole',
     49.2830, -123.1210, 'SUB1', 1, 8, 8, 0.98, 24.5, 0.8, true, null),
    ('g1', 'T4', 'MV/LV', 'A', null, null, 240.0, 12470.0, 'pole',
     49.2770, -123.1180, 'SUB1', 1, 6, 6, 0.98, null, 1.0, false,
     'rating_missing'),
    ('g1', 'T5', 'MV/LV', null, 50.0, 'meta', null, 12470.0, 'pole',
     null, null, 'SUB1', 1, 0, 0, 0.98, 49.0, 1.0, true,
     'secondary_voltage_missing; phases_missing; no_meters_downstream')
) as t (grid_id, transformer_id, voltage_level, phases, rating_kva,
        rating_kva_source, secondary_voltage_v, primary_voltage_v,
        installation_type, latitude, longitude, upstream_transformer_id,
        depth, meters_direct, meters_total, power_factor, capacity_kw,
        capacity_budget, has_valid_rating, data_issues);

-- hourly load for 2024: a daily shape (evening peak) and a winter peak
create table {s}.fct_transformer_load as
with spec (transformer_id, base_kw, amp_kw, meters) as (
    values ('T1', 20.0, 25.0, 12), ('T2', 15.0, 22.0, 10),
           ('T3', 9.0, 14.0, 8), ('T4', 6.0, 5.0, 6)
),
hours as (
    select generate_series(
        timestamp '2024-01-01 00:00', timestamp '2024-12-31 23:00',
        interval '1 hour') as interval_local
),
loads as (
    select
        'g1' as grid_id,
        spec.transformer_id,
        hours.interval_local at time zone 'America/Vancouver' as interval_start,
        hours.interval_local,
        3600 as period_s,
        spec.base_kw
        + spec.amp_kw * greatest(0, sin(pi() * (extract(hour from
            hours.interval_local) - 6) / 16))
        + 0.3 * spec.base_kw * cos(2 * pi() * (extract(doy from
            hours.interval_local) - 15) / 366)
        + 2.0 * sin(extract(epoch from hours.interval_local) / 7919.0)
            as load_kw,
        spec.meters
    from spec cross join hours
)
select
    loads.grid_id, loads.transformer_id, loads.interval_start,
    loads.interval_local, loads.period_s, loads.load_kw,
    loads.load_kw + 1.0 as consumer_kw, 1.0 as producer_kw,
    case when extract(doy from loads.interval_local) = 40
        then loads.meters - 3 else loads.meters end as meters_reporting,
    loads.meters as meters_expected,
    case when extract(doy from loads.interval_local) = 40
        then (loads.meters - 3)::float8 / loads.meters else 1.0 end
        as meter_coverage,
    d.capacity_kw,
    d.capacity_kw - loads.load_kw as headroom_kw,
    (d.capacity_kw - loads.load_kw) * d.capacity_budget as budgeted_headroom_kw
from loads
inner join {s}.dim_transformers as d
    on d.grid_id = loads.grid_id and d.transformer_id = loads.transformer_id;

create table {s}.transformer_headroom_profile as
select
    grid_id, transformer_id,
    extract(month from interval_local)::int as local_month,
    extract(hour from interval_local)::int as local_hour,
    count(*)::int as intervals,
    max(capacity_kw) as capacity_kw,
    min(load_kw) as min_load_kw,
    percentile_cont(0.05) within group (order by load_kw) as p05_load_kw,
    percentile_cont(0.5) within group (order by load_kw) as p50_load_kw,
    avg(load_kw) as mean_load_kw,
    max(load_kw) as max_load_kw,
    min(headroom_kw) as min_headroom_kw,
    percentile_cont(0.05) within group (order by headroom_kw) as p05_headroom_kw,
    percentile_cont(0.5) within group (order by headroom_kw) as p50_headroom_kw,
    avg(headroom_kw) as mean_headroom_kw,
    max(headroom_kw) as max_headroom_kw
from {s}.fct_transformer_load
group by 1, 2, 3, 4;

create table {s}.transformer_window_headroom as
with tagged as (
    select f.*, w.window_name
    from {s}.fct_transformer_load as f
    cross join {s}.charging_windows as w
    where (w.month_start is null
           or extract(month from f.interval_local)
              between w.month_start and w.month_end)
      and (w.hour_start is null
           or extract(hour from f.interval_local) >= w.hour_start
           or extract(hour from f.interval_local) <= w.hour_end)
)
select
    d.grid_id, d.transformer_id, w.window_name, d.capacity_kw, d.capacity_budget,
    count(t.interval_start)::int as intervals_in_window,
    count(t.interval_start) filter (where t.meter_coverage >= 0.9)::int
        as intervals_used,
    count(t.interval_start) filter (where t.meter_coverage < 0.9)::int
        as intervals_low_coverage,
    coalesce((count(t.interval_start) filter (where t.meter_coverage >= 0.9))::float8
        / nullif(count(t.interval_start), 0), 0) as coverage,
    max(t.load_kw) as peak_load_kw,
    min(t.budgeted_headroom_kw) filter (where t.meter_coverage >= 0.9)
        as firm_headroom_kw,
    0.05 as headroom_quantile,
    percentile_cont(0.05) within group (order by t.budgeted_headroom_kw)
        as quantile_headroom_kw
from {s}.dim_transformers as d
cross join {s}.charging_windows as w
left join tagged as t
    on t.grid_id = d.grid_id and t.transformer_id = d.transformer_id
    and t.window_name = w.window_name
where d.depth = 1
group by d.grid_id, d.transformer_id, w.window_name, d.capacity_kw,
    d.capacity_budget;

create table {s}.transformer_charger_fit as
select
    h.grid_id, h.transformer_id, h.window_name, c.charger_type,
    c.power_kw as charger_power_kw, c.voltage_v as charger_voltage_v,
    c.phases_required as charger_phases_required, h.firm_headroom_kw,
    1.0 as coincidence_factor,
    case when h.capacity_kw is null or h.firm_headroom_kw is null
              or c.voltage_v > d.secondary_voltage_v
              or (c.phases_required = 3 and d.phases <> 'ABC')
              or h.firm_headroom_kw <= 0 then 0
         else floor(h.firm_headroom_kw / c.power_kw + 1e-9)::int
    end as max_chargers,
    coalesce(c.voltage_v <= d.secondary_voltage_v, false) as voltage_ok,
    (c.phases_required < 3 or d.phases = 'ABC') as phase_ok,
    case when h.capacity_kw is null then 'missing_rating'
         when h.firm_headroom_kw is null then 'no_data_in_window'
         when c.voltage_v > d.secondary_voltage_v or d.secondary_voltage_v is null
             then 'voltage_above_secondary'
         when c.phases_required = 3 and d.phases <> 'ABC' then 'needs_three_phase'
         when h.firm_headroom_kw <= 0 then 'no_headroom'
         when h.firm_headroom_kw < c.power_kw then 'headroom_below_one_charger'
    end as reason
from {s}.transformer_window_headroom as h
inner join {s}.dim_transformers as d
    on d.grid_id = h.grid_id and d.transformer_id = h.transformer_id
cross join {s}.charger_types as c;

create table {s}.int_data_issues_collected (
    grid_id text, element_id text, element_type text, data_source_id uuid,
    issue_code text, detail text, readings bigint);
insert into {s}.int_data_issues_collected values
    ('g1', 'M77', 'Meter', null, 'orphan_meter',
     'walk from M77 ended at L9 after 2 hops', null),
    ('g1', 'L12', 'ACLineSegment', null, 'topology_cycle',
     'walk from L12 ended at L12 after 3 hops', null),
    ('g1', 'T4', 'Transformer', null, 'rating_missing',
     'meta.rating_kva = null', null),
    ('g1', 'M3', 'Meter', null, 'rejected_reading_negative',
     'first at 2024-03-10, last at 2024-03-10 <script>alert(1)</script>', 2);
"""


def create_marts(conn: psycopg.Connection, schema: str = "evcap") -> None:
    """Create small, realistic mart tables (contract column names) by hand.

    Grid ``g1``: substation SUB1 feeding T1 (75 kVA, three-phase), T2 (50 kVA),
    T3 (25 kVA, overloaded in the evening, budget 0.8), T4 (no rating) and
    T5 (no meters, no coordinates, no readings); hourly load for 2024.
    """
    conn.execute(MARTS_SQL.replace("{s}", schema))
    conn.commit()
