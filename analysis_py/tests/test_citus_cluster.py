"""The local Citus cluster helper without a cluster: version, cache, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from evcap import citus_cluster
from evcap.citus_cluster import CitusClusterError, Cluster


@pytest.fixture
def fake_pg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pg_config whose library directory is a temporary one."""
    libdir = tmp_path / "lib"
    libdir.mkdir()

    def pg_config(key: str) -> Path | str:
        return libdir if key == "--pkglibdir" else "PostgreSQL 15.99"

    monkeypatch.setattr(citus_cluster, "_pg_config", pg_config)
    return libdir


def _tarball(directory: Path, version: str) -> Path:
    path = directory / f"citus-{version}-src.tar.gz"
    path.write_bytes(b"not really a tarball " + version.encode())
    return path


def test_ports_are_coordinator_then_workers(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, port=9800, workers=3)
    assert cluster.ports == [9800, 9801, 9802, 9803]
    assert cluster.dsn("db", 9802) == "postgresql://postgres@127.0.0.1:9802/db"


@pytest.mark.parametrize(
    ("name", "version"),
    [("citus-13.2.2-src.tar.gz", "13.2.2"), ("citus-12.1.10.tar.gz", "12.1.10")],
)
def test_version_from_tarball_name(name: str, version: str) -> None:
    assert citus_cluster._tarball_version(Path(name)) == version


def test_unversioned_tarball_is_an_error() -> None:
    with pytest.raises(CitusClusterError, match=r"citus-X\.Y\.Z"):
        citus_cluster._tarball_version(Path("citus-latest.tar.gz"))


def test_installed_library_of_the_same_version_is_not_rebuilt(
    tmp_path: Path, fake_pg: Path
) -> None:
    cluster = Cluster(tmp_path / "cluster")
    tarball = _tarball(tmp_path, "13.2.2")
    assert not citus_cluster.citus_installed(cluster, tarball)  # no citus.so
    (fake_pg / "citus.so").write_bytes(b"\0Citus 13.2.1 on x86_64\0")
    assert not citus_cluster.citus_installed(cluster, tarball)  # other version
    (fake_pg / "citus.so").write_bytes(b"\0Citus 13.2.2 on x86_64\0")
    assert citus_cluster.citus_installed(cluster, tarball)
    assert (cluster.root / "installed.stamp").is_file()
    # a changed tarball of the same name no longer matches the stamp
    tarball.write_bytes(b"patched")
    (fake_pg / "citus.so").write_bytes(b"\0Citus 13.2.1 on x86_64\0")
    assert not citus_cluster.citus_installed(cluster, tarball)


def test_missing_tarball_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(CitusClusterError, match="CITUS_TARBALL"):
        citus_cluster.build_citus(Cluster(tmp_path), tmp_path / "nope.tar.gz")


def test_start_without_citus_installed_says_make_citus(
    tmp_path: Path, fake_pg: Path
) -> None:
    with pytest.raises(CitusClusterError, match="make citus"):
        citus_cluster.start_cluster(Cluster(tmp_path))
