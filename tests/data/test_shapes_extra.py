"""The six generic families (data.shapes.EXTRA_FAMILIES), colour patterns and implicit meshing."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from data import shapes
from data.shapes import implicit
from data.shapes.texture import PATTERNS, pattern_weight

EXTRA = list(shapes.EXTRA_FAMILIES)
SEEDS = range(6)


@functools.cache
def _objects(name: str):
    return tuple(shapes.make_object(name, np.random.default_rng(seed)) for seed in SEEDS)


def test_extra_families_are_named_classes_beside_the_13():
    assert EXTRA == ["superquadric", "revolution", "extrusion", "csg", "blob", "assembly"]
    assert list(shapes.ALL_FAMILIES)[:13] == list(shapes.CLASSES.values())
    assert all(shapes.NAME_TO_SYNSET[n] == n for n in EXTRA)  # class folder = name


@pytest.mark.parametrize("name", EXTRA)
def test_parts_are_closed_volumes_with_colours(name):
    for parts, params in _objects(name):
        assert parts and params["synset"] == name
        for p in parts:
            assert p.mesh.is_watertight and p.mesh.is_winding_consistent, p.name
            assert p.mesh.volume > 0, p.name
            fc = p.color if p.face_colors is None else p.face_colors
            assert np.all((np.asarray(fc) >= 0) & (np.asarray(fc) <= 1)), p.name
            if p.face_colors is not None:
                assert p.face_colors.shape == (len(p.mesh.faces), 3)


@pytest.mark.parametrize("name", EXTRA)
def test_params_replay_from_json(name):
    a = shapes.sample_params(name, np.random.default_rng(3))
    assert json.loads(json.dumps(a)) == a
    p1 = shapes.build_parts(name, a)
    p2 = shapes.build_parts(name, json.loads(json.dumps(a)))
    for x, y in zip(p1, p2, strict=True):
        np.testing.assert_array_equal(x.mesh.vertices, y.mesh.vertices)
        np.testing.assert_array_equal(x.color, y.color)
        if x.face_colors is not None:
            np.testing.assert_array_equal(x.face_colors, y.face_colors)


@pytest.mark.parametrize("name", EXTRA)
def test_families_vary(name):
    """Different seeds give different shapes (bounding-box proportions and part counts)."""
    shapes_seen = {(len(parts), tuple(np.round(np.ptp(
        np.concatenate([p.mesh.vertices for p in parts]), axis=0) /
        shapes.object_diagonal(parts), 2)))
        for parts, _ in _objects(name)}
    assert len(shapes_seen) == len(SEEDS)


def test_revolution_open_vessels_have_a_cavity():
    """An open surface of revolution holds less than the solid of its outer profile."""
    for seed in range(20):
        params = shapes.sample_params("revolution", np.random.default_rng(seed))
        if params["variants"]["kind"] != "open":
            continue
        body = shapes.build_parts("revolution", params)[0].mesh
        solid_params = json.loads(json.dumps(params))
        solid_params["variants"]["kind"] = "solid"
        solid = shapes.build_parts("revolution", solid_params)[0].mesh
        assert body.volume < 0.9 * solid.volume
        # the cavity is open at the top: the axis just below the rim is outside the solid
        top = body.bounds[1][1]
        assert not body.contains([[0.0, top - 0.02, 0.0]])[0]
        return
    pytest.fail("no open vessel in 20 seeds")


def test_sphere_from_field_matches_its_volume():
    r = 0.4
    mesh = implicit.mesh_from_field(implicit.sphere(r), [-r] * 3, [r] * 3, res=48)
    assert mesh.is_watertight and mesh.volume > 0
    assert abs(mesh.volume / (4 / 3 * np.pi * r**3) - 1) < 0.02
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), r, atol=0.01)


def test_csg_difference_drills_a_hole_through():
    box = implicit.box([0.5, 0.3, 0.4])
    drilled = implicit.difference(box, implicit.cylinder(0.15, 1.0, axis=2))
    mesh = implicit.mesh_from_field(drilled, [-0.5, -0.3, -0.4], [0.5, 0.3, 0.4], res=48)
    assert mesh.is_watertight
    assert mesh.euler_number == 0  # genus 1: a ring
    expect = 0.8 * 1.0 * 0.6 - np.pi * 0.15**2 * 0.8
    assert abs(mesh.volume / expect - 1) < 0.03
    assert not mesh.contains([[0.0, 0.0, 0.0]])[0]


def test_field_without_inside_is_an_error():
    with pytest.raises(ValueError, match="no inside"):
        implicit.mesh_from_field(implicit.sphere(0.1), [0.5] * 3, [0.9] * 3)


def test_patterns_numpy_reference():
    pts = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.3, 0.0, 0.0], [-0.6, 0, 0]])
    # stripes along +x (azimuth 0, elevation 0) at 2 cycles per diagonal: period 0.25
    w = pattern_weight(pts, "stripes", 2.0, 0.0, 0.0)
    np.testing.assert_array_equal(w, np.floor(4 * pts[:, 0]) % 2)
    np.testing.assert_array_equal(pattern_weight(pts, "plain", 2.0, 0.0, 0.0), 0.0)
    g = pattern_weight(pts, "gradient", 2.0, 0.0, 0.0)
    np.testing.assert_allclose(g, np.clip(pts[:, 0] + 0.5, 0, 1))
    for kind in PATTERNS:
        w = pattern_weight(np.random.default_rng(0).uniform(-0.5, 0.5, (100, 3)), kind, 3.0,
                           30.0, 10.0)
        assert w.shape == (100,) and np.all((w >= 0) & (w <= 1))
    with pytest.raises(ValueError, match="unknown pattern"):
        pattern_weight(pts, "plaid", 1.0, 0.0, 0.0)
