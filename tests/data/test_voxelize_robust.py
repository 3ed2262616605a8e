"""Voxels for meshes as they come: seams, holes, flipped normals, overlaps, open containers and
sheets (meshes written here), against numpy references of the shapes they approximate."""

import numpy as np
import pytest
import trimesh
from scipy import ndimage

from data.voxelize import SHEET_HALF_WIDTH, voxelize, weld
from geometry.grid import cell_centres

N = 32
CELL = 1.0 / N


def _centres(n=N):
    c = cell_centres(n)
    return np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1)  # (n, n, n, 3)


def _iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / max((a | b).sum(), 1)


def _torus_reference(R, r):
    p = _centres()
    return (np.hypot(p[..., 0], p[..., 1]) - R) ** 2 + p[..., 2] ** 2 < r * r


def _split_seam(mesh, angle=0.0):
    """Duplicate the vertices of faces on one side of a seam, as texture seams do in OBJ files:
    the surface is unchanged but its faces no longer share vertices across the seam."""
    v, f = mesh.vertices.copy(), mesh.faces.copy()
    theta = np.arctan2(mesh.triangles_center[:, 1], mesh.triangles_center[:, 0])
    side = (theta > angle) & (theta < angle + np.pi / 3)
    used = np.unique(f[side])
    new_index = {int(i): len(v) + k for k, i in enumerate(used)}
    v = np.concatenate([v, v[used]])
    f[side] = np.vectorize(new_index.get)(f[side])
    return trimesh.Trimesh(v, f, process=False)


def test_torus_with_seam_split_vertices_is_a_solid_ring():
    R, r = 0.3, 0.1
    torus = trimesh.creation.torus(R, r, major_sections=96, minor_sections=48)
    seamed = _split_seam(torus)
    assert not seamed.is_watertight  # what trimesh sees in such a file
    got = voxelize([seamed], N).astype(bool)
    ref = _torus_reference(R, r)
    assert _iou(got, ref) > 0.95
    # nothing in the hole or around the ring: every occupied centre is within a cell of it
    p = _centres()[got]
    d = np.hypot(np.hypot(p[:, 0], p[:, 1]) - R, p[:, 2]) - r
    assert d.max() < 0.5 * CELL
    # and the ring is solid: its core (half the tube radius) is fully occupied
    core = (np.hypot(_centres()[..., 0], _centres()[..., 1]) - R) ** 2 + _centres()[..., 2] ** 2
    assert got[core < (0.5 * r) ** 2].all()


def _box(lo, hi):
    b = trimesh.creation.box(np.subtract(hi, lo))
    b.apply_translation(np.add(lo, hi) / 2)
    return b


def _box_reference(lo, hi):
    p = _centres()
    return np.all((p > np.asarray(lo)) & (p < np.asarray(hi)), axis=-1)


@pytest.mark.parametrize("flip", ["all", "half"])
def test_flipped_or_inconsistent_normals(flip):
    lo, hi = (-0.31, -0.2, -0.13), (0.27, 0.11, 0.4)
    box = _box(lo, hi).subdivide().subdivide()
    faces = box.faces.copy()
    rows = slice(None) if flip == "all" else slice(0, None, 2)
    faces[rows] = faces[rows][:, ::-1]
    bad = trimesh.Trimesh(box.vertices, faces, process=False)
    assert flip == "all" or not bad.is_winding_consistent
    np.testing.assert_array_equal(voxelize([bad], N).astype(bool), _box_reference(lo, hi))


def test_overlapping_parts_with_holes_are_a_union():
    a, b = ((-0.3, -0.3, -0.3), (0.1, 0.1, 0.1)), ((-0.1, -0.12, -0.1), (0.3, 0.3, 0.3))
    box_b = _box(*b).subdivide().subdivide().subdivide()
    holed = trimesh.Trimesh(box_b.vertices, box_b.faces[3:], process=False)  # a small hole
    merged = trimesh.util.concatenate([_box(*a), holed])  # one file, two overlapping bodies
    ref = _box_reference(*a) | _box_reference(*b)
    got = voxelize([merged], N).astype(bool)
    assert got[ref].all()
    # the only extra cells hug the hole (where the winding number is inconclusive)
    hole = box_b.triangles_center[:3].mean(axis=0)
    extra = _centres()[got & ~ref]
    assert len(extra) < 10 and np.all(np.linalg.norm(extra - hole, axis=1) < 2.5 * CELL)


def test_open_cup_keeps_an_empty_cavity_and_one_cell_walls():
    # a cup of single-sheet walls: an open cylinder (no top) on a disc, wall radius 0.3
    r, z0, z1 = 0.3, -0.35, 0.35
    wall = trimesh.creation.cylinder(radius=r, height=z1 - z0, sections=128)
    wall.apply_translation([0, 0, (z0 + z1) / 2])
    side = np.abs(wall.face_normals[:, 2]) < 0.5
    bottom = wall.face_normals[:, 2] < -0.5
    cup = trimesh.Trimesh(wall.vertices, wall.faces[side | bottom], process=False)
    got = voxelize([cup], N).astype(bool)
    p = _centres()
    rho, z = np.hypot(p[..., 0], p[..., 1]), p[..., 2]
    # the cavity is empty (the winding number deep inside is above 0.5: carving empties it)
    assert not got[(rho < r - 1.5 * CELL) & (z > z0 + 1.5 * CELL)].any()
    # nothing lies further than half a cell from the cup's surface
    far = (np.abs(rho - r) > 0.5 * CELL + 1e-9) & (np.abs(z - z0) > 0.5 * CELL + 1e-9)
    assert not got[far].any()
    # the wall is closed: in every slice the cavity cannot reach the border without
    # crossing an occupied cell (4-connected flood fill from the axis)
    for k in np.flatnonzero((cell_centres(N) > z0 + CELL) & (cell_centres(N) < z1)):
        labels, _ = ndimage.label(~got[:, :, k])
        assert labels[N // 2, N // 2] not in set(labels[[0, -1], :].ravel()) | set(
            labels[:, [0, -1]].ravel()), k
    # the bottom is a closed layer too
    assert got[(rho < r - CELL) & (np.abs(z - z0) <= SHEET_HALF_WIDTH * CELL * 0.98)].all()


def test_single_open_sheet_is_one_layer_of_cells():
    # a tilted square sheet through the origin: normal n, half side 0.3 in its own plane
    n = np.array([0.2, -0.3, 1.0])
    n /= np.linalg.norm(n)
    u = np.cross(n, [1.0, 0, 0])
    u /= np.linalg.norm(u)
    w = np.cross(n, u)
    corners = np.array([s * 0.3 * u + t * 0.3 * w for s, t in
                        [(-1, -1), (1, -1), (1, 1), (-1, 1)]]) + 0.011
    sheet = trimesh.Trimesh(corners, [[0, 1, 2], [0, 2, 3]], process=False)
    got = voxelize([sheet], N).astype(bool)
    p = _centres() - 0.011
    dist = np.abs(p @ n)
    inside = (np.abs(p @ u) < 0.3 - 1e-3) & (np.abs(p @ w) < 0.3 - 1e-3)
    ref = inside & (dist <= SHEET_HALF_WIDTH * CELL)
    outside_band = dist > SHEET_HALF_WIDTH * CELL + 1e-6
    assert got[ref].all()
    assert not got[outside_band].any()
    assert got.sum() <= ref.sum() * 1.1  # only the sheet's rim adds cells


def test_weld_merges_seams_and_orients_outward():
    torus = trimesh.creation.torus(0.3, 0.1, major_sections=48, minor_sections=24)
    flipped = _split_seam(torus)
    flipped.invert()
    welded = weld(flipped)
    assert welded.is_watertight and welded.volume > 0
    assert abs(welded.volume - torus.volume) < 1e-9
