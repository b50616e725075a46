{#-
    Every consumption / production kWh reading, one row per data source and
    interval. Read only through the EDM function ts_data_source_select in
    `cross join lateral`; duplicates are resolved per data source inside the
    lateral and readings are checked by the shared rules in
    macros/evcap_meter_readings.sql (the ones fct_transformer_load sums by).
    The query itself is macro evcap_checked_meter_readings, which the
    energy-conservation test reads from a time bound.
-#}

select * from {{ evcap_checked_meter_readings() }} as readings
