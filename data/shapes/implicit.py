"""Implicit shapes: signed fields meshed with marching cubes (scikit-image), and their SDFs.

A field maps points (P, 3) to values (P,) that are negative inside the solid and positive
outside (object units; the signed-distance helpers below are exact or close to it). Boolean
combinations (CSG) are min / max of fields. :func:`mesh_from_field` samples a field on a regular
grid padded by one sample of "outside", so the extracted surface is always closed (watertight)
and oriented outward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import trimesh
from skimage import measure

#: A signed field: (P, 3) points -> (P,) values, negative inside.
Field = Callable[[np.ndarray], np.ndarray]


def mesh_from_field(field: Field, lo: Sequence[float], hi: Sequence[float],
                    res: int = 48) -> trimesh.Trimesh:
    """The closed surface ``{field = 0}`` inside the box ``[lo, hi]``.

    Args:
        field: signed field, negative inside (object units).
        lo, hi: (3,) corners of a box that holds the solid (object units).
        res: samples along the longest side of the box (the others in proportion, >= 8).

    Returns:
        Watertight, outward-oriented triangle mesh (object units).

    Raises:
        ValueError: the field has no inside in the box.
    """
    lo_a, hi_a = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    step = float(np.max(hi_a - lo_a)) / (res - 1)
    n = np.maximum(np.ceil((hi_a - lo_a) / step).astype(int) + 1, 8)
    axes = [lo_a[i] + step * (np.arange(n[i] + 2) - 1) for i in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    vals = np.asarray(field(pts), dtype=float).reshape(*(len(a) for a in axes))
    for ax in range(3):  # one layer of "outside" all round: the surface closes
        idx = [slice(None)] * 3
        for end in (0, -1):
            idx[ax] = end
            vals[tuple(idx)] = np.maximum(vals[tuple(idx)], step)
    if vals.min() >= 0:
        raise ValueError("the field has no inside in the box")
    verts, faces, _, _ = measure.marching_cubes(vals, 0.0, spacing=(step, step, step))
    mesh = trimesh.Trimesh(verts + [a[0] for a in axes], faces, process=True)
    # marching cubes emits zero-area triangles where the surface touches a sample exactly;
    # they make edges shared by more than two faces
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def rotation(angles_deg: Sequence[float]) -> np.ndarray:
    """3x3 rotation from Euler angles (x, then y, then z; degrees)."""
    ax, ay, az = np.radians(np.asarray(angles_deg, dtype=float))
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def local(field: Field, center: Sequence[float], rot: np.ndarray | None = None) -> Field:
    """``field`` placed at ``center`` (3,) and rotated by ``rot`` (3, 3)."""
    c = np.asarray(center, dtype=float)
    r = np.eye(3) if rot is None else np.asarray(rot, dtype=float)
    return lambda p: field((p - c) @ r)


def sphere(r: float) -> Field:
    """Ball of radius ``r`` at the origin."""
    return lambda p: np.linalg.norm(p, axis=1) - r


def box(half: Sequence[float], rounding: float = 0.0) -> Field:
    """Box with half extents ``half`` (3,) at the origin, edges rounded by ``rounding``."""
    h = np.asarray(half, dtype=float) - rounding

    def f(p: np.ndarray) -> np.ndarray:
        q = np.abs(p) - h
        out = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        return out + np.minimum(q.max(axis=1), 0.0) - rounding
    return f


def cylinder(r: float, half_h: float, axis: int = 1) -> Field:
    """Solid cylinder of radius ``r`` and half height ``half_h`` along ``axis`` (0, 1, 2)."""
    others = [a for a in range(3) if a != axis]

    def f(p: np.ndarray) -> np.ndarray:
        d = np.stack([np.linalg.norm(p[:, others], axis=1) - r, np.abs(p[:, axis]) - half_h], 1)
        return np.minimum(d.max(axis=1), 0.0) + np.linalg.norm(np.maximum(d, 0.0), axis=1)
    return f


def torus(major: float, minor: float) -> Field:
    """Torus around the y axis: ring radius ``major``, tube radius ``minor``."""
    return lambda p: np.hypot(np.hypot(p[:, 0], p[:, 2]) - major, p[:, 1]) - minor


def superellipsoid(radii: Sequence[float], e1: float, e2: float) -> Field:
    """Superellipsoid (Barr) with semi-axes ``radii`` (x, y, z) and exponents ``e1`` (along y)
    and ``e2`` (around y): 1 gives an ellipsoid, small values a box, 2 a double cone."""
    a = np.asarray(radii, dtype=float)

    def f(p: np.ndarray) -> np.ndarray:
        q = np.abs(p) / a + 1e-12
        xz = (q[:, 0] ** (2 / e2) + q[:, 2] ** (2 / e2)) ** (e2 / e1)
        g = (xz + q[:, 1] ** (2 / e1)) ** (e1 / 2)
        return (g - 1.0) * float(a.min())
    return f


def union(*fields: Field) -> Field:
    """Union: the minimum of the fields."""
    return lambda p: np.min([f(p) for f in fields], axis=0)


def intersection(*fields: Field) -> Field:
    """Intersection: the maximum of the fields."""
    return lambda p: np.max([f(p) for f in fields], axis=0)


def difference(a: Field, *holes: Field) -> Field:
    """``a`` minus every hole."""
    return lambda p: np.max([a(p)] + [-h(p) for h in holes], axis=0)


def smooth_union(a: Field, b: Field, k: float) -> Field:
    """Union with a fillet of size ``k`` (polynomial smooth minimum)."""
    def f(p: np.ndarray) -> np.ndarray:
        da, db = a(p), b(p)
        h = np.clip(0.5 + 0.5 * (db - da) / k, 0.0, 1.0)
        return db * (1 - h) + da * h - k * h * (1 - h)
    return f
