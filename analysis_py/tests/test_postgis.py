"""EDM geometry as real PostGIS where the server has it, WKT text elsewhere.

The system PostgreSQL (with ``postgresql-15-postgis-3``, installed by ``make
test``) stores the stand-in's geometry as ``geometry(Geometry,4326)``; the
embedded server (no PostGIS) as text. Either way a transformer whose meta has
no coordinates gets them from its geometry, and the map draws it. The
expectation is the generator's own coordinates, not SQL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest

from evcap import plots
from evcap.dbt_runner import run_dbt
from evcap.demo import GridSpec, build_grid, load_grid
from evcap.edm_standin import has_postgis, install_standin

pytestmark = pytest.mark.slow


def test_geometry_feeds_the_map(pg_dsn: str, pg_server: Any, tmp_path: Path) -> None:
    grid = build_grid(GridSpec(seed=9, meters=10, days=1, grids=1))
    with psycopg.connect(pg_dsn) as conn:
        postgis = has_postgis(conn)
        geometry_type = install_standin(conn, "edm", replace=True)
        if pg_server.name == "system-pg" and os.environ.get("CI"):
            # make test installs PostGIS for the system server
            assert postgis, "postgresql-15-postgis-3 is not installed"
        if postgis:
            assert geometry_type == "geometry(Geometry,4326)"
        else:
            assert geometry_type == "text"
        stored = conn.execute(
            "select format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = 'edm.grid_element'::regclass "
            "and attname = 'geometry'"
        ).fetchone()
        assert stored == (geometry_type,)
        load_grid(conn, grid, "edm", progress=False)
        # coordinates only in the geometry: drop them from every transformer's meta
        conn.execute(
            "update edm.grid_element set meta = meta - 'latitude' - 'longitude' "
            "where type = 'Transformer'"
        )
        conn.commit()
    run_dbt(
        [
            *("build", "--select", "+dim_transformers"),
            *("--resource-type", "model", "--resource-type", "seed"),
        ],
        pg_dsn,
        target_path=tmp_path,
    )

    elements = grid.elements
    transformers = elements[elements["type"] == "Transformer"]
    expected = {}
    for element_id, wkt in zip(
        transformers["grid_element_id"], transformers["geometry"], strict=True
    ):
        lon, lat = wkt.removeprefix("POINT(").removesuffix(")").split()
        expected[str(element_id)] = (float(lat), float(lon))
    with psycopg.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("select * from evcap.dim_transformers")
        dim = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    assert set(dim["transformer_id"]) == set(expected)
    for tid, lat, lon in zip(
        dim["transformer_id"], dim["latitude"], dim["longitude"], strict=True
    ):
        assert (lat, lon) == pytest.approx(expected[tid], abs=1e-9), tid

    spec = json.loads(plots.transformer_map_chart(dim).to_json())
    points = [
        layer for layer in spec.get("layer", []) if layer["mark"]["type"] == "circle"
    ]
    assert points, "the map has no points"
    drawn = {
        row["transformer_id"]: (row["latitude"], row["longitude"])
        for layer in points
        for row in spec["datasets"][layer["data"]["name"]]
    }
    assert set(drawn) == set(expected)
    for tid, point in drawn.items():
        assert point == pytest.approx(expected[tid], abs=1e-9), tid
