"""The building blocks of the shape families: the ``Part`` type and watertight mesh primitives.

Every helper takes and returns positions in object units (ShapeNet frame: +y up, front +z) and
returns a watertight mesh with outward normals, optionally transformed by a 4x4 matrix ``m``.
The helpers are internal to :mod:`data.shapes` (its family modules import them by name).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import trimesh

#: Segments around every round primitive.
SECTIONS = 24

RGB = tuple[float, float, float]
Points = Sequence[Sequence[float]] | np.ndarray


@dataclass
class Part:
    """One coloured, watertight component of an object.

    Attributes:
        mesh: watertight triangle mesh with outward normals, in the object frame (+y up,
            front +z, arbitrary units).
        color: linear RGB in [0, 1].
        name: part name, e.g. ``"seat"`` or ``"leg_0"``.
        face_colors: optional (F, 3) linear RGB per face (a texture pattern); when set the
            renderer uses it instead of ``color``.
    """

    mesh: trimesh.Trimesh
    color: RGB
    name: str
    face_colors: np.ndarray | None = None

    @property
    def render_color(self) -> RGB | np.ndarray:
        """What the renderer paints: ``face_colors`` (F, 3) if set, else ``color`` (3,)."""
        return self.color if self.face_colors is None else self.face_colors


#: How a family's ``build`` collects parts: ``add(mesh, colour_key, part_name)``.
Add = Callable[[trimesh.Trimesh, str, str], None]


# ---------------------------------------------------------------------------------------------
# Geometry helpers. All take and return positions in object units; meshes are watertight.
# ---------------------------------------------------------------------------------------------


def _translate(t: Sequence[float]) -> np.ndarray:
    """4x4 homogeneous translation by ``t`` (3,)."""
    m = np.eye(4)
    m[:3, 3] = t
    return m


def _rot(axis: str, deg: float) -> np.ndarray:
    """4x4 rotation by ``deg`` degrees (right-handed) about the named axis through the origin."""
    vec = {"x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0], "z": [0.0, 0.0, 1.0]}[axis]
    return trimesh.transformations.rotation_matrix(math.radians(deg), vec)


def _about(pivot: Sequence[float], m: np.ndarray) -> np.ndarray:
    """4x4 transform ``m`` applied about ``pivot`` (3,) instead of the origin."""
    return _translate(pivot) @ m @ _translate(-np.asarray(pivot, dtype=float))


def _finish(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Make sure the mesh is oriented outward (positive volume)."""
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _xf(mesh: trimesh.Trimesh, m: np.ndarray | None) -> trimesh.Trimesh:
    """Apply the 4x4 transform ``m`` (if any) in place and return the mesh."""
    if m is not None:
        mesh.apply_transform(m)
    return _finish(mesh)


def _box(lo: Sequence[float], hi: Sequence[float], m: np.ndarray | None = None) -> trimesh.Trimesh:
    """Axis-aligned box between corners ``lo`` and ``hi`` (3,), then transformed by ``m``."""
    lo_a, hi_a = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    a, b = np.minimum(lo_a, hi_a), np.maximum(lo_a, hi_a)
    mesh = trimesh.creation.box(extents=b - a, transform=_translate((a + b) / 2))
    return _xf(mesh, m)


def _cbox(
    center: Sequence[float], size: Sequence[float], m: np.ndarray | None = None
) -> trimesh.Trimesh:
    """Box of extents ``size`` (3,) centred at ``center`` (3,), then transformed by ``m``."""
    c, s = np.asarray(center, dtype=float), np.asarray(size, dtype=float)
    return _box(c - s / 2, c + s / 2, m)


def _cyl(
    p0: Sequence[float], p1: Sequence[float], r: float, m: np.ndarray | None = None
) -> trimesh.Trimesh:
    """Solid cylinder of radius ``r`` with cap centres ``p0`` and ``p1`` (3,)."""
    mesh = trimesh.creation.cylinder(radius=r, segment=[p0, p1], sections=SECTIONS)
    return _xf(mesh, m)


def _hull(points: Points, m: np.ndarray | None = None) -> trimesh.Trimesh:
    """Convex hull of ``points`` (N, 3), then transformed by ``m``."""
    mesh = trimesh.convex.convex_hull(np.asarray(points, dtype=float))
    return _xf(mesh, m)


def _circle(c: np.ndarray, axis: np.ndarray, r: float, n: int = SECTIONS) -> np.ndarray:
    """``n`` points (n, 3) on a circle of radius ``r`` around ``c`` normal to ``axis``."""
    axis = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return c + r * (np.cos(t)[:, None] * u + np.sin(t)[:, None] * w)


def _frustum(
    p0: Sequence[float], p1: Sequence[float], r0: float, r1: float, m: np.ndarray | None = None
) -> trimesh.Trimesh:
    """Truncated cone from radius ``r0`` at ``p0`` to ``r1`` at ``p1`` (a cone if ``r1`` is 0)."""
    a, b = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
    axis = b - a
    pts = [_circle(a, axis, r0)]
    pts.append(_circle(b, axis, r1) if r1 > 0 else b[None])
    return _hull(np.concatenate(pts), m)


def _ellipsoid(
    center: Sequence[float], radii: Sequence[float], m: np.ndarray | None = None, subdiv: int = 2
) -> trimesh.Trimesh:
    """Ellipsoid with semi-axes ``radii`` (3,) along x, y, z, centred at ``center``."""
    mesh = trimesh.creation.icosphere(subdivisions=subdiv)
    mesh.apply_scale(np.asarray(radii, dtype=float))
    mesh.apply_translation(center)
    return _xf(mesh, m)


def _capsule(p0: Sequence[float], p1: Sequence[float], r: float) -> trimesh.Trimesh:
    """Capsule of radius ``r`` between the centres ``p0`` and ``p1`` (3,)."""
    s = trimesh.creation.icosphere(subdivisions=1).vertices * r
    return _hull(np.concatenate([s + np.asarray(p0, float), s + np.asarray(p1, float)]))


def _prism_zy(
    profile: Points, x0: float, x1: float, m: np.ndarray | None = None
) -> trimesh.Trimesh:
    """Convex side profile ``profile`` ((N, 2) as (z, y)) extruded along x from ``x0`` to ``x1``."""
    p = np.asarray(profile, dtype=float)
    pts = [np.column_stack([np.full(len(p), x), p[:, 1], p[:, 0]]) for x in (x0, x1)]
    return _hull(np.concatenate(pts), m)


def _lathe_y(profile: Points, base: Sequence[float] = (0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    """Solid of revolution about the vertical axis through ``base``.

    Args:
        profile: (N, 2) points (radius, height); the first and last must have radius 0.
        base: (3,) position of the axis foot.
    """
    mesh = trimesh.creation.revolve(np.asarray(profile, dtype=float), sections=SECTIONS)
    return _xf(mesh, _translate(base) @ _rot("x", -90.0))


def _edge_z(profile: Points, y: float, side: int) -> float:
    """Front-most (``side`` = +1) or rear-most (-1) z of a convex (z, y) profile at height ``y``."""
    p = np.asarray(profile, dtype=float)
    zs = []
    for i in range(len(p)):
        (za, ya), (zb, yb) = p[i], p[(i + 1) % len(p)]
        if min(ya, yb) - 1e-9 <= y <= max(ya, yb) + 1e-9:
            zs.append(za if abs(yb - ya) < 1e-12 else za + (y - ya) / (yb - ya) * (zb - za))
            if abs(yb - ya) < 1e-12:
                zs.append(zb)
    if not zs:
        raise ValueError(f"height {y} outside profile")
    return max(zs) if side > 0 else min(zs)


def _sym(x: float) -> tuple[float, float]:
    """The pair (-x, +x), for mirrored parts."""
    return (-x, x)
