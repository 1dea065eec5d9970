"""Loading a city: the graph cache (hits, keys, damaged entries) and extracts that cannot be read
(missing, truncated, not OSM, without roads)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from cetate.city import cache
from cetate.city.osm import read_roads
from cetate.city.profiles import default_profile
from cetate.city.service import City
from cetate.errors import BadRequestData

if TYPE_CHECKING:
    from conftest import OsmXml, RandomPoints

MODES = ("drive", "bike", "walk")


@pytest.fixture(scope="module")
def probe(
    helsinki_pbf: Path, tmp_path_factory: pytest.TempPathFactory, near_roads: RandomPoints
) -> np.ndarray:
    """Points near Helsinki's roads, the same for every load."""
    city = City.load(helsinki_pbf, cache_dir=tmp_path_factory.mktemp("probe"))
    return near_roads(city.routers["walk"], 12, np.random.default_rng(1), 20.0)


@pytest.fixture(scope="module")
def built(helsinki_pbf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache filled once by loading Helsinki; tests damage copies of it."""
    directory = tmp_path_factory.mktemp("built")
    City.load(helsinki_pbf, cache_dir=directory)
    return directory


def copy_of(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "graphs"
    shutil.copytree(built, target)
    return target


def matrices(city: City, points: np.ndarray) -> dict[str, np.ndarray]:
    return {mode: city.matrix(points, points, mode) for mode in city.routers}


def entry(directory: Path, name: str) -> Path:
    """The cache folder of a mode (``drive``, ...) or ``segments``."""
    (found,) = [p for p in directory.glob("*/*") if p.name.split("-")[0] == name]
    return found


# --- hits and keys -------------------------------------------------------------------------------


def test_second_load_hits_the_cache(helsinki_pbf: Path, tmp_path: Path, probe: np.ndarray) -> None:
    first = City.load(helsinki_pbf, cache_dir=tmp_path)
    assert not first.report.from_cache
    second = City.load(helsinki_pbf, cache_dir=tmp_path)
    assert second.report.from_cache
    assert second.report.modes == first.report.modes
    assert second.report.segments == first.report.segments == len(first.segments)
    for mode, table in matrices(first, probe).items():
        np.testing.assert_array_equal(matrices(second, probe)[mode], table)
    for mode in MODES:
        a, b = first.routers[mode].network, second.routers[mode].network
        for name in cache.NETWORK_ARRAYS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # Exactly one entry per extract, holding the segments and one folder per mode.
    (home,) = tmp_path.iterdir()
    assert home.name.startswith(second.report.sha256[:24])
    assert sorted(p.name.split("-")[0] for p in home.iterdir()) == [
        "bike",
        "drive",
        "segments",
        "walk",
    ]
    # The cache holds arrays and JSON only: nothing is unpickled from disk.
    for npz in home.glob("**/*.npz"):
        with np.load(npz, allow_pickle=False) as arrays:
            assert all(arrays[k].dtype != object for k in arrays.files)


def test_a_cache_hit_is_fast(helsinki_pbf: Path, built: Path, tmp_path: Path) -> None:
    city = City.load(helsinki_pbf, cache_dir=copy_of(built, tmp_path))
    assert city.report.from_cache
    assert city.report.seconds < 1.0


def test_speeds_change_the_key(
    helsinki_pbf: Path, built: Path, tmp_path: Path, probe: np.ndarray
) -> None:
    directory = copy_of(built, tmp_path)
    base = City.load(helsinki_pbf, cache_dir=directory)
    # (Bikes: a car drives the posted maxspeed, tagged on most of Helsinki's streets.)
    speeds = {"bike": {"residential": 5.0, "cycleway": 5.0}}
    slow = City.load(helsinki_pbf, cache_dir=directory, speeds=speeds)
    assert not slow.report.from_cache
    bikes = sorted(p.name for p in directory.glob("*/bike-*"))
    assert len(bikes) == 2
    assert cache.network_dir(directory, base.report.sha256, default_profile("bike")).name in bikes
    before, after = base.matrix(probe, probe, "bike"), slow.matrix(probe, probe, "bike")
    assert (after >= before - 1e-9).all() and (after > before + 1).any()
    for mode in ("drive", "walk"):
        np.testing.assert_array_equal(
            slow.matrix(probe, probe, mode), base.matrix(probe, probe, mode)
        )
    # The same speeds again: a hit, with the same answers.
    again = City.load(helsinki_pbf, cache_dir=directory, speeds=speeds)
    assert again.report.from_cache
    np.testing.assert_array_equal(again.matrix(probe, probe, "bike"), after)
    # Bad speeds are refused before anything is read or written.
    with pytest.raises(BadRequestData, match="residential"):
        City.load(helsinki_pbf, cache_dir=directory, speeds={"drive": {"residential": -1}})


def test_a_changed_extract_is_not_reused(tmp_path: Path, osm_xml: type[OsmXml]) -> None:
    def town(bend: int) -> OsmXml:
        osm = osm_xml()
        osm.way([(0, 0), (1, bend), (2, 0)], highway="residential")
        osm.way([(2, 0), (0, 0)], highway="residential")
        return osm

    path = town(0).write(tmp_path / "town.osm")
    graphs = tmp_path / "graphs"
    first = City.load(path, ["walk"], cache_dir=graphs)
    # The same file under another name is the same extract: a hit.
    renamed = tmp_path / "same.osm"
    shutil.copy(path, renamed)
    assert City.load(renamed, ["walk"], cache_dir=graphs).report.from_cache
    # Move a node 100 m: another extract, other lengths.
    town(1).write(path)
    second = City.load(path, ["walk"], cache_dir=graphs)
    assert not second.report.from_cache
    assert second.report.sha256 != first.report.sha256
    assert second.segments.length_m.sum() != pytest.approx(first.segments.length_m.sum())
    assert len(list(graphs.iterdir())) == 2


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_cache_dir() == tmp_path / "cetate" / "graphs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.default_cache_dir() == Path.home() / ".cache" / "cetate" / "graphs"


# --- damaged entries -----------------------------------------------------------------------------


def damage_counts_missing(directory: Path) -> None:
    (entry(directory, "drive") / "counts.json").unlink()


def damage_counts_garbage(directory: Path) -> None:
    (entry(directory, "drive") / "counts.json").write_text("{")


def damage_network_missing(directory: Path) -> None:
    (entry(directory, "drive") / "network.npz").unlink()


def damage_network_garbage(directory: Path) -> None:
    (entry(directory, "drive") / "network.npz").write_bytes(b"not a zip file")


def damage_network_truncated(directory: Path) -> None:
    npz = entry(directory, "drive") / "network.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])


def damage_topology_missing(directory: Path) -> None:
    shutil.rmtree(entry(directory, "drive") / "cch")


def damage_topology_garbage(directory: Path) -> None:
    (entry(directory, "drive") / "cch" / "order").write_bytes(b"\x00\x01")


def damage_topology_foreign(directory: Path) -> None:
    """The bike network's hierarchy next to the drive network."""
    shutil.rmtree(entry(directory, "drive") / "cch")
    shutil.copytree(entry(directory, "bike") / "cch", entry(directory, "drive") / "cch")


def damage_segments_missing(directory: Path) -> None:
    (entry(directory, "segments") / "segments.npz").unlink()


def damage_tags_garbage(directory: Path) -> None:
    (entry(directory, "segments") / "tags.json").write_text('[{"highway": ')


def damage_leftover_staging(directory: Path) -> None:
    """A half-written entry left by a process killed while filling the cache."""
    home = entry(directory, "drive").parent
    (home / ".drive-abc123").mkdir()
    (home / ".drive-abc123" / "network.npz").write_bytes(b"half")


@pytest.mark.parametrize(
    "damage",
    [
        damage_counts_missing,
        damage_counts_garbage,
        damage_network_missing,
        damage_network_garbage,
        damage_network_truncated,
        damage_topology_missing,
        damage_topology_garbage,
        damage_topology_foreign,
        damage_segments_missing,
        damage_tags_garbage,
        damage_leftover_staging,
    ],
    ids=lambda f: f.__name__.removeprefix("damage_"),
)
def test_a_damaged_cache_is_not_reused(
    helsinki_pbf: Path, built: Path, tmp_path: Path, probe: np.ndarray, damage
) -> None:  # type: ignore[no-untyped-def]
    """A damaged entry is a miss: the city is built again, gives the same answers, and the
    entry is whole again for the next load."""
    reference = City.load(helsinki_pbf, cache_dir=built)
    expected = matrices(reference, probe)
    directory = copy_of(built, tmp_path)
    damage(directory)
    city = City.load(helsinki_pbf, cache_dir=directory)
    assert city.report.modes == reference.report.modes
    for mode, table in matrices(city, probe).items():
        np.testing.assert_array_equal(table, expected[mode])
    # Whole again.
    again = City.load(helsinki_pbf, cache_dir=directory)
    for mode, table in matrices(again, probe).items():
        np.testing.assert_array_equal(table, expected[mode])
    for mode in MODES:
        folder = entry(directory, mode)
        assert json.loads((folder / "counts.json").read_text())
        if "topology" not in damage.__name__:
            assert (folder / "cch" / "node_count").is_file()
    # A topology that did not fit is not used: built again (City.load does not write it back:
    # each load builds it again until the network's entry is rewritten).
    if "topology" in damage.__name__:
        assert not city.routers["drive"].topology_loaded
    assert all(again.routers[m].topology_loaded for m in MODES if m != "drive")


def test_an_empty_topology_file_does_not_crash(
    helsinki_pbf: Path, built: Path, tmp_path: Path
) -> None:
    """A file emptied by a crash before it reached the disk (a rename without fsync) once made
    RoutingKit crash the whole process; run in a child so a regression fails one test only."""
    directory = copy_of(built, tmp_path)
    for name in ("order", "rank", "head", "tail"):
        (entry(directory, "drive") / "cch" / name).write_bytes(b"")
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from cetate.city.service import City\n"
        "city = City.load(Path(sys.argv[1]), ['drive'], cache_dir=Path(sys.argv[2]))\n"
        "print(city.matrix(np.array([[24.94, 60.17]]), np.array([[24.95, 60.165]]), 'drive'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(helsinki_pbf), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"


# --- extracts that cannot be read ----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.osm.pbf"
    for call in (lambda: City.load(path, cache_dir=tmp_path), lambda: read_roads(path)):
        with pytest.raises(BadRequestData, match="no such OSM extract") as raised:
            call()
        assert str(path) in raised.value.detail
    with pytest.raises(BadRequestData, match="no such OSM extract"):
        City.load(tmp_path, cache_dir=tmp_path / "graphs")  # a directory is not an extract


def test_truncated_pbf(helsinki_pbf: Path, tmp_path: Path) -> None:
    path = tmp_path / "half.osm.pbf"
    data = helsinki_pbf.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    graphs = tmp_path / "graphs"
    with pytest.raises(BadRequestData) as raised:
        City.load(path, cache_dir=graphs)
    assert str(path) in raised.value.detail
    assert "not a readable OSM extract" in raised.value.detail
    # Nothing was cached for it.
    assert not list(graphs.glob("*/segments/*"))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.osm.pbf", b""),
        ("garbage.osm.pbf", b"\x00\x00\x00\x0dthis is not a PBF file at all" * 10),
        ("text.osm", b"hello, I am not XML"),
        ("broken.osm", b'<?xml version="1.0"?><osm version="0.6"><node id="1" lat='),
    ],
)
def test_not_an_extract(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadRequestData) as raised:
        City.load(path, cache_dir=tmp_path / "graphs")
    assert str(path) in raised.value.detail


def test_no_roads(tmp_path: Path) -> None:
    path = tmp_path / "one-node.osm"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
        '<node id="1" version="1" lat="45.65" lon="25.6"><tag k="amenity" v="bench"/></node>\n'
        '<way id="1" version="1"><nd ref="1"/><tag k="building" v="yes"/></way>\n'
        "</osm>\n"
    )
    with pytest.raises(BadRequestData, match="no roads") as raised:
        City.load(path, cache_dir=tmp_path / "graphs")
    assert str(path) in raised.value.detail


def test_no_road_for_a_mode(tmp_path: Path, osm_xml: type[OsmXml]) -> None:
    osm = osm_xml()
    osm.way([(0, 0), (1, 0), (1, 1), (0, 0)], highway="footway")
    path = osm.write(tmp_path / "park.osm")
    city = City.load(path, ["walk"], cache_dir=tmp_path / "graphs")
    assert city.report.modes["walk"]["arcs"] > 0
    with pytest.raises(BadRequestData, match="no road usable by mode 'drive'") as raised:
        City.load(path, ["walk", "drive"], cache_dir=tmp_path / "graphs")
    assert str(path) in raised.value.detail


def test_unknown_mode(helsinki_pbf: Path, tmp_path: Path) -> None:
    with pytest.raises(BadRequestData, match="unknown mode 'boat'"):
        City.load(helsinki_pbf, ["walk", "boat"], cache_dir=tmp_path)
    assert not list(tmp_path.iterdir()), "nothing is written for a refused load"


def test_loaded_modes_only(
    helsinki_pbf: Path, built: Path, tmp_path: Path, near_roads: RandomPoints
) -> None:
    city = City.load(helsinki_pbf, ["walk"], cache_dir=copy_of(built, tmp_path))
    assert city.report.from_cache and list(city.routers) == ["walk"]
    points = near_roads(city.routers["walk"], 2, np.random.default_rng(3), 10.0)
    with pytest.raises(BadRequestData, match="unknown or unloaded mode 'drive'"):
        city.matrix(points, points, "drive")
