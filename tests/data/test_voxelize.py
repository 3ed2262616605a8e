"""Solid voxelisation: exact centre test, overlapping bodies, a surface with a hole."""

import numpy as np
import trimesh

from data.voxelize import voxelize
from geometry.grid import cell_centres


def _box(lo, hi):
    b = trimesh.creation.box(np.subtract(hi, lo))
    b.apply_translation(np.add(lo, hi) / 2)
    return b


def _box_reference(lo, hi, n):
    """Cells whose centre lies strictly inside the axis-aligned box [lo, hi] (numpy loops)."""
    c = cell_centres(n)
    out = np.zeros((n, n, n), np.uint8)
    for i in range(n):
        for j in range(n):
            for k in range(n):
                p = (c[i], c[j], c[k])
                out[i, j, k] = all(lo[a] < p[a] < hi[a] for a in range(3))
    return out


def test_centre_test_matches_a_box_exactly():
    lo, hi = (-0.31, -0.2, -0.13), (0.27, 0.11, 0.4)
    np.testing.assert_array_equal(voxelize([_box(lo, hi)], 16), _box_reference(lo, hi, 16))


def test_overlapping_closed_bodies_in_one_mesh_are_a_union():
    a, b = ((-0.3, -0.3, -0.3), (0.1, 0.1, 0.1)), ((-0.1, -0.1, -0.1), (0.3, 0.3, 0.3))
    merged = trimesh.util.concatenate([_box(*a), _box(*b)])  # one mesh, two bodies
    expect = _box_reference(*a, 16) | _box_reference(*b, 16)
    np.testing.assert_array_equal(voxelize([merged], 16), expect)


def test_surface_with_a_hole_is_filled_close_to_the_solid():
    # faces on cell boundaries (-0.5 + k/32): half a cell from every cell centre
    lo, hi = (-0.3125, -0.25, -0.1875), (0.28125, 0.25, 0.21875)
    box = _box(lo, hi).subdivide().subdivide().subdivide().subdivide()  # small triangles
    open_box = trimesh.Trimesh(box.vertices, box.faces[1:], process=False)  # a small hole
    assert not open_box.is_watertight
    got = voxelize([open_box], 32).astype(bool)
    ref = _box_reference(lo, hi, 32).astype(bool)
    assert got[ref].all()
    assert (got & ref).sum() / (got | ref).sum() > 0.995
