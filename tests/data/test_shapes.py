"""Tests for data.shapes: the synthetic ShapeNet-like object families."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from data import shapes

NAMES = list(shapes.CLASSES.values())
SEEDS = range(5)
MIN_THICKNESS = 0.035  # of the bounding-box diagonal: one 32^3 voxel of the unit cube is 0.031


@functools.cache
def _objects(name: str) -> tuple[tuple[list[shapes.Part], dict], ...]:
    """Objects of one class for the shared seeds (built once per test session)."""
    return tuple(
        shapes.make_object(shapes.NAME_TO_SYNSET[name], np.random.default_rng(seed))
        for seed in SEEDS
    )


def _bounds(parts: list[shapes.Part], prefix: str = "") -> np.ndarray:
    """(2, 3) union bounds of the parts whose names start with ``prefix``."""
    b = np.array([p.mesh.bounds for p in parts if p.name.startswith(prefix)])
    assert len(b), f"no part named {prefix}*"
    return np.stack([b[:, 0].min(axis=0), b[:, 1].max(axis=0)])


def _touching(a: trimesh.Trimesh, b: trimesh.Trimesh, tol: float) -> bool:
    """Whether two closed meshes touch or overlap (up to ``tol``)."""
    if np.any(a.bounds[0] > b.bounds[1] + tol) or np.any(b.bounds[0] > a.bounds[1] + tol):
        return False
    for p, q in ((a, b), (b, a)):
        pts = np.concatenate([p.vertices, trimesh.sample.sample_surface(p, 200, seed=0)[0]])
        if np.any(q.contains(pts)):
            return True
        if q.nearest.on_surface(pts)[1].min() < tol:
            return True
    return False


def _components(parts: list[shapes.Part], tol: float) -> list[list[str]]:
    """Connected groups of part names (union-find over touching pairs)."""
    parent = list(range(len(parts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            if find(i) != find(j) and _touching(parts[i].mesh, parts[j].mesh, tol):
                parent[find(i)] = find(j)
    groups: dict[int, list[str]] = {}
    for i, p in enumerate(parts):
        groups.setdefault(find(i), []).append(p.name)
    return list(groups.values())


def test_classes_are_the_13_lsm_synsets_in_order() -> None:
    assert list(shapes.CLASSES.items()) == [
        ("02691156", "airplane"), ("02828884", "bench"), ("02933112", "cabinet"),
        ("02958343", "car"), ("03001627", "chair"), ("03211117", "display"),
        ("03636649", "lamp"), ("03691459", "loudspeaker"), ("04090263", "rifle"),
        ("04256520", "sofa"), ("04379243", "table"), ("04401088", "telephone"),
        ("04530566", "vessel"),
    ]


def test_unknown_synset_raises_and_names_are_accepted() -> None:
    with pytest.raises(KeyError):
        shapes.sample_params("12345678", np.random.default_rng(0))
    params = shapes.sample_params("chair", np.random.default_rng(0))
    assert params["synset"] == "03001627"


@pytest.mark.parametrize("name", NAMES)
def test_parts_are_watertight_volumes(name: str) -> None:
    for parts, _ in _objects(name):
        assert len(parts) >= 2
        assert len({p.name for p in parts}) == len(parts), "part names must be unique"
        assert sum(len(p.mesh.faces) for p in parts) < 20_000
        for p in parts:
            assert p.mesh.is_watertight, p.name
            assert p.mesh.is_winding_consistent, p.name
            assert p.mesh.is_volume, p.name
            assert p.mesh.volume > 0, p.name
            assert len(p.color) == 3 and all(0.0 <= c <= 1.0 for c in p.color), p.name
            assert all(isinstance(c, float) for c in p.color)


@pytest.mark.parametrize("name", NAMES)
def test_parts_are_thick_enough_for_32_voxels(name: str) -> None:
    for parts, _ in _objects(name):
        diag = shapes.object_diagonal(parts)
        for p in parts:
            assert shapes.part_min_extent(p.mesh) / diag >= MIN_THICKNESS, p.name


@pytest.mark.parametrize("name", NAMES)
def test_parts_are_connected(name: str) -> None:
    for parts, params in _objects(name):
        tol = 0.005 * shapes.object_diagonal(parts)
        groups = _components(parts, tol)
        assert len(groups) == 1, f"floating parts in {params['variants']}: {groups}"


@pytest.mark.parametrize("name", NAMES)
def test_params_json_and_variety(name: str) -> None:
    synset = shapes.NAME_TO_SYNSET[name]
    samples = [shapes.sample_params(synset, np.random.default_rng(s)) for s in range(60)]
    for p in samples:
        assert json.loads(json.dumps(p)) == p
        assert p["synset"] == synset
        assert all(isinstance(x, float) for x in p["dims"].values())
        assert all(isinstance(x, str | bool | int) for x in p["variants"].values())
    dims = samples[0]["dims"].keys()
    assert len(dims) >= 5
    for k in dims:
        vals = np.array([p["dims"][k] for p in samples])
        assert vals.std() > 0, f"dimension {k} never varies"
    keys = samples[0]["variants"].keys()
    assert len(keys) >= 2
    for k in keys:
        seen = {p["variants"][k] for p in samples}
        assert len(seen) >= 2, f"variant {k} only ever takes {seen}"


@pytest.mark.parametrize("name", ["chair", "airplane", "vessel", "telephone"])
def test_determinism(name: str) -> None:
    synset = shapes.NAME_TO_SYNSET[name]
    a = shapes.sample_params(synset, np.random.default_rng(7))
    b = shapes.sample_params(synset, np.random.default_rng(7))
    assert a == b
    p1 = shapes.build_parts(synset, a)
    p2 = shapes.build_parts(synset, json.loads(json.dumps(a)))
    assert [p.name for p in p1] == [p.name for p in p2]
    for x, y in zip(p1, p2, strict=True):
        np.testing.assert_array_equal(x.mesh.vertices, y.mesh.vertices)
        np.testing.assert_array_equal(x.mesh.faces, y.mesh.faces)
        assert x.color == y.color
    parts, params = shapes.make_object(synset, np.random.default_rng(7))
    assert params == a
    np.testing.assert_array_equal(parts[0].mesh.vertices, p1[0].mesh.vertices)


def test_build_rejects_params_of_another_class() -> None:
    params = shapes.sample_params("chair", np.random.default_rng(0))
    with pytest.raises(ValueError):
        shapes.build_parts("table", params)


def test_thin_parts_are_thickened() -> None:
    parts = [
        shapes.Part(trimesh.creation.box([1.0, 1.0, 1.0]), (0.5, 0.5, 0.5), "block"),
        shapes.Part(trimesh.creation.box([0.5, 0.001, 0.5], transform=trimesh.transformations
                                         .rotation_matrix(0.5, [1, 0, 0])), (0.1, 0.1, 0.1),
                    "sheet"),
    ]
    shapes.enforce_min_thickness(parts)
    diag = shapes.object_diagonal(parts)
    assert shapes.part_min_extent(parts[1].mesh) / diag >= MIN_THICKNESS
    assert parts[1].mesh.is_volume
    # the sheet grew only across its thin axis
    assert max(parts[1].mesh.bounding_box_oriented.primitive.extents) == pytest.approx(0.5)


def _ext(parts: list[shapes.Part], prefix: str = "") -> np.ndarray:
    b = _bounds(parts, prefix)
    return b[1] - b[0]


def _centre(parts: list[shapes.Part], prefix: str = "") -> np.ndarray:
    return _bounds(parts, prefix).mean(axis=0)


@pytest.mark.parametrize("name", NAMES)
def test_class_proportions(name: str) -> None:
    """Coarse per-class sanity: +y up, front +z, plausible aspect ratios and part placement."""
    for parts, params in _objects(name):
        v = params["variants"]
        ext, lo = _ext(parts), _bounds(parts)[0]
        if name == "airplane":
            assert ext[0] > 1.6 * ext[1] and ext[2] > 2 * ext[1]  # wider and longer than tall
            assert _centre(parts, "cockpit")[2] > _centre(parts, "fin")[2]  # nose at +z
            assert _bounds(parts, "fin")[1][1] > _bounds(parts, "fuselage")[1][1]
        elif name == "bench":
            assert ext[0] > ext[2]
            assert _bounds(parts, "seat")[0][1] > 0.25 * ext[1]
        elif name == "cabinet":
            assert _bounds(parts, "top")[1][1] == pytest.approx(lo[1] + ext[1])
            assert _bounds(parts, "front")[1][2] > _bounds(parts, "body")[1][2]  # front at +z
        elif name == "car":
            assert ext[2] > 1.8 * ext[0] and ext[2] > 2 * ext[1]
            assert _bounds(parts, "wheel")[0][1] == pytest.approx(lo[1])  # wheels on the ground
            assert _centre(parts, "cabin")[1] > _centre(parts, "body")[1]
            assert _centre(parts, "headlight")[2] > 0 > _centre(parts, "taillight")[2]
        elif name == "chair":
            seat = _bounds(parts, "seat")
            assert 0.2 * ext[1] < seat[1][1] < 0.7 * ext[1]
            back = _bounds(parts, "back") if v["back"] == "solid" else _bounds(parts, "top_rail")
            assert back[1][1] > seat[1][1] + 0.2
            assert _centre(parts, "back")[2] < _centre(parts, "seat")[2]
        elif name == "display":
            assert ext[0] > ext[2]
            t = np.radians(params["dims"]["tilt_deg"])
            normal = np.array([0.0, np.sin(t), np.cos(t)])  # the tilted panel faces +z
            screen = [p.mesh for p in parts if p.name == "screen"][0]
            panel = [p.mesh for p in parts if p.name == "panel"][0]
            assert (screen.vertices @ normal).max() > (panel.vertices @ normal).max()
            assert _centre(parts, "screen")[1] > _centre(parts, "foot")[1]
        elif name == "lamp":
            assert _centre(parts, "shade")[1] > _centre(parts, "base")[1] + 0.5 * _ext(parts,
                                                                                    "base")[1]
            assert _bounds(parts, "base")[0][1] == pytest.approx(lo[1])
        elif name == "loudspeaker":
            box = _bounds(parts, "box")
            for p in parts:
                if p.name.endswith("_surround"):
                    assert p.mesh.bounds[1][2] > box[1][2]  # drivers protrude from the front
                    assert box[0][1] < p.mesh.centroid[1] < box[1][1]
        elif name == "rifle":
            assert ext[2] > 2.3 * ext[1] and ext[2] > 8 * ext[0]
            assert _bounds(parts, "muzzle")[1][2] == pytest.approx(lo[2] + ext[2])
        elif name == "sofa":
            assert ext[0] > ext[1]
            assert _centre(parts, "back")[2] < _centre(parts, "cushion")[2]
        elif name == "table":
            top = _bounds(parts, "top")
            assert top[1][1] == pytest.approx(lo[1] + ext[1])  # the top is highest
            # stands on the floor (thickening may push a thin foot a hair below it)
            assert lo[1] == pytest.approx(0.0, abs=0.01 * ext[1])
            for p in parts:
                if p.name != "top":
                    assert p.mesh.bounds[1][1] <= top[1][1] + 1e-6
        elif name == "telephone":
            if v["kind"] == "desk":
                assert _centre(parts, "handset")[1] > _centre(parts, "base")[1]
            else:
                assert ext[1] > ext[0] > ext[2]
                if v["kind"] != "flip":  # the screen sits proud of the body's front
                    assert _bounds(parts, "screen")[1][2] > _bounds(parts, "body")[1][2]
        elif name == "vessel":
            assert ext[2] > 2 * ext[0]
            hull = [p for p in parts if p.name == "hull"][0].mesh
            assert hull.bounds[0][1] == pytest.approx(lo[1])
            z = hull.vertices[:, 2]
            bow = hull.vertices[z > z.max() - 0.05 * ext[2]]
            assert np.abs(bow[:, 0]).max() < 0.3 * (hull.bounds[1][0] - hull.bounds[0][0])


def test_preview_and_gallery(tmp_path: Path) -> None:
    parts, _ = shapes.make_object("03001627", np.random.default_rng(0))
    img = shapes.render_preview(parts, size=48)
    assert img.shape == (48, 48, 3)
    assert img.min() < 0.9 and img.max() == 1.0  # something drawn on a white background
    out = tmp_path / "g.png"
    shapes.main(["--gallery", str(out), "--per-class", "1"])
    assert out.stat().st_size > 1000
