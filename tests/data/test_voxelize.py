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


def _rod(a, b, radius):
    """A closed cylinder from point ``a`` to point ``b`` (watertight, one body)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rod = trimesh.creation.cylinder(radius=radius, segment=np.stack([a, b]), sections=24)
    assert rod.is_watertight and rod.body_count == 1
    return rod


def test_a_closed_rod_thinner_than_a_cell_stays_whole():
    """A tilted rod 0.8 cells wide holds cell centres in a few places only; its voxels must
    still run along its whole length (the floor lamps' stems in `small`), and a thick rod's
    voxels must be exactly its centre test."""
    n = 32
    cell = 1.0 / n
    a, b = (-0.35, -0.3, -0.02), (0.33, 0.36, 0.05)
    thin = _rod(a, b, 0.4 * cell)
    got = voxelize([thin], n).astype(bool)
    c = cell_centres(n)
    ts = np.linspace(0.0, 1.0, 200)
    for t in ts:  # every point of the axis has an occupied cell within one cell (26-neighbours)
        p = np.add(a, t * np.subtract(b, a))
        idx = [int(np.argmin(np.abs(c - p[k]))) for k in range(3)]
        sl = tuple(slice(max(i - 1, 0), i + 2) for i in idx)
        assert got[sl].any(), f"gap in the rod's voxels at t={t:.3f}"
    # and the layer stays within half a cell of the surface: no cell farther from the axis
    # than the radius plus half a cell diagonal
    ii = np.argwhere(got)
    pts = c[ii]
    d = np.subtract(b, a) / np.linalg.norm(np.subtract(b, a))
    rel = pts - np.asarray(a)
    dist = np.linalg.norm(rel - np.outer(rel @ d, d), axis=1)
    assert dist.max() <= 0.4 * cell + 0.5 * cell + 1e-9
    # a thick rod: only the centre test (no layer)
    thick = _rod(a, b, 3.0 * cell)
    want = thick.contains(np.stack(np.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3))
    np.testing.assert_array_equal(voxelize([thick], n).astype(bool).ravel(), want)
