"""Ambient normals from an EDM weather data source (hourly temperatures)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from evcap.errors import ConfigError
from evcap.thermal.limits import MONTHS
from evcap.thermal.model import (
    HOURS,
)


def project_var(name: str, default: Any = None) -> Any:
    """A dbt var of ``dbt_project.yml`` (``default`` when absent or null)."""
    import yaml

    from evcap.db import project_dir

    path = project_dir() / "dbt_project.yml"
    if not path.is_file():
        return default
    project_vars = (yaml.safe_load(path.read_text()) or {}).get("vars") or {}
    value = project_vars.get(name)
    return default if value is None else value


_AMBIENT_SQL = """
with readings as (
    select distinct on (r."timestamp")
        r."timestamp" as interval_start,
        r.value
    from {select}(%(id)s::uuid, %(metric)s) as r
    order by r."timestamp", r.received desc
),

local as (
    select
        cast(extract(month from interval_start at time zone %(tz)s) as integer)
            as local_month,
        cast(extract(hour from interval_start at time zone %(tz)s) as integer)
            as local_hour,
        value
    from readings
    where value is not null
      and value between %(low)s and %(high)s
)

select local_month, local_hour, avg(value) as ambient_c, count(*) as readings
from local
group by local_month, local_hour
order by local_month, local_hour
"""


def ambient_from_edm(
    conn: psycopg.Connection,
    *,
    data_source_id: str,
    metric: str = "temperature",
    edm_schema: str = "edm",
    local_timezone: str | None = None,
    fallback: pd.DataFrame | None = None,
    grid_id: str = "default",
) -> pd.DataFrame:
    """Ambient per local month and hour from an EDM weather data source.

    Reads the data source's readings only through the EDM function
    ``ts_data_source_select(id, metric)`` (values in degC; of duplicates the
    latest ``received`` wins; values that are null or outside -60..60 degC are
    left out) and averages them per local month and local hour: the hourly
    climate normal of the years the source holds.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database holding the EDM.
    data_source_id : str
        ``grid_element_data_source_id`` (uuid) of the weather station.
    metric : str
        Metric key of the temperature series.
    edm_schema : str
        Schema of the EDM.
    local_timezone : str, optional
        Time zone of the local hours (default: dbt var ``local_timezone``).
    fallback : pandas.DataFrame, optional
        Ambient rows (seed ``ambient_temperature_normals``) whose ``default``
        rows fill the months and hours the source has no reading for.
    grid_id : str
        ``grid_id`` of the returned rows (``default``: every grid).

    Returns
    -------
    pandas.DataFrame
        ``grid_id``, ``local_month``, ``local_hour``, ``ambient_c``,
        ``readings`` (0 for a cell taken from ``fallback``); 288 rows when
        the source or the fallback covers every cell; the cells taken from
        ``fallback`` are those with ``readings == 0``.

    Raises
    ------
    ConfigError
        When the source has no usable reading, or cells are missing and no
        fallback covers them.
    """
    tz = local_timezone or str(project_var("local_timezone", "America/Vancouver"))
    query = sql.SQL(_AMBIENT_SQL).format(
        select=sql.Identifier(edm_schema, "ts_data_source_select")
    )
    from evcap.db import read_frame

    try:
        found = read_frame(
            conn,
            query,
            {
                "id": data_source_id,
                "metric": metric,
                "tz": tz,
                "low": -60.0,
                "high": 60.0,
            },
        )
    except psycopg.Error as exc:
        if not conn.autocommit:
            conn.rollback()
        raise ConfigError(
            f"cannot read weather data source {data_source_id} ({metric}) from "
            f"{edm_schema}.ts_data_source_select: {exc}"
        ) from exc
    if found.empty:
        raise ConfigError(
            f"weather data source {data_source_id} has no {metric!r} readings "
            "in -60..60 degC"
        )
    cells = pd.MultiIndex.from_product(
        [range(1, MONTHS + 1), range(HOURS)], names=["local_month", "local_hour"]
    )
    table = (
        found.astype({"local_month": int, "local_hour": int})
        .set_index(["local_month", "local_hour"])
        .reindex(cells)
    )
    missing = table["ambient_c"].isna()
    filled = int(missing.sum())
    if filled:
        if fallback is None:
            raise ConfigError(
                f"weather data source {data_source_id} has no reading for "
                f"{filled} local month x hour cells and no fallback was given"
            )
        rows = fallback.astype({"grid_id": str})
        backup = (
            rows[rows["grid_id"] == "default"]
            .astype({"local_month": int, "local_hour": int})
            .set_index(["local_month", "local_hour"])["ambient_c"]
        )
        table.loc[missing, "ambient_c"] = backup.reindex(
            table.index[missing]
        ).to_numpy()
        if table["ambient_c"].isna().any():
            raise ConfigError(
                "the fallback ambient temperatures do not cover the cells the "
                "weather data source lacks"
            )
    out = table.reset_index()
    out["readings"] = out["readings"].fillna(0).astype(int)
    out["ambient_c"] = out["ambient_c"].astype(float)
    out.insert(0, "grid_id", grid_id)
    return out


def with_ambient(seed: pd.DataFrame, ambient: pd.DataFrame) -> pd.DataFrame:
    """Seed ambient rows with the ``ambient`` rows' grids replaced."""
    keep = seed[~seed["grid_id"].astype(str).isin(set(ambient["grid_id"].astype(str)))]
    columns = ["grid_id", "local_month", "local_hour", "ambient_c"]
    return pd.concat([keep[columns], ambient[columns]], ignore_index=True)
