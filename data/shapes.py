"""Parametric, ShapeNet-like object families assembled from watertight mesh primitives.

ShapeNet cannot be downloaded here, so every one of the 13 LSM classes gets a hand-written
family of objects. Each family samples a handful of continuous dimensions plus structural
variant choices (``sample_params``) and turns them deterministically into a list of coloured,
individually watertight parts (``build_parts``). The dataset builder unions the parts for
voxelisation and renders them with their colours.

Frame of the returned parts (ShapeNet convention): +y is up, the object's front faces +z,
sizes are in arbitrary units (roughly metres). The builder centres and rescales the object
(bounding-box diagonal 1) itself, so nothing here normalises.

Every part is at least ``MIN_THICKNESS_FRAC`` of the object's bounding-box diagonal thick in its
thinnest oriented-bounding-box dimension, so it survives a 32^3 voxelisation of the unit cube.

Run ``python -m data.shapes --gallery docs/shapes_gallery.png`` to render a gallery.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from data.layout import CLASSES

log = logging.getLogger(__name__)

NAME_TO_SYNSET: dict[str, str] = {name: synset for synset, name in CLASSES.items()}

#: Thinnest allowed part extent, as a fraction of the object's bounding-box diagonal (enforced).
MIN_THICKNESS_FRAC = 0.037
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
    """

    mesh: trimesh.Trimesh
    color: RGB
    name: str


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


# ---------------------------------------------------------------------------------------------
# Parameter sampling
# ---------------------------------------------------------------------------------------------


def _srgb_to_linear(c: Sequence[float]) -> RGB:
    """sRGB (3,) in [0, 1] -> linear RGB (3,)."""
    a = np.asarray(c, dtype=float)
    lin = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    return (float(lin[0]), float(lin[1]), float(lin[2]))


def _hex(h: str) -> RGB:
    """'#rrggbb' (sRGB) -> linear RGB (3,)."""
    return _srgb_to_linear([int(h[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])


_PALETTES: dict[str, list[RGB]] = {
    name: [_hex(h) for h in hexes]
    for name, hexes in {
        "wood": ["#8b5a2b", "#a0522d", "#c19a6b", "#6f4e37", "#deb887", "#5c4033", "#b5835a"],
        "metal": ["#b0b0b8", "#8a8d91", "#4a4a4f", "#d4d4d8", "#2b2b2e", "#c9b037"],
        "dark": ["#1c1c1e", "#2e2e33", "#3a3a40", "#242428"],
        "fabric": ["#7a2e2e", "#2e4a7a", "#3d6b4f", "#8c8c8c", "#c8b89a", "#b8860b", "#5b3a6b",
                   "#d0c8c0", "#4b5563", "#9c4a1a", "#2f4f4f"],
        "paint": ["#b01c1c", "#1c3fb0", "#e8e8e8", "#a8a9ad", "#1a1a1a", "#e0b000", "#1f6b3a",
                  "#6b1f4a", "#d46a00", "#4d6d8f"],
        "aircraft": ["#f2f2f2", "#d9dde3", "#c0c6cc", "#e6e2d6", "#9aa5b1", "#4d5d53"],
        "accent": ["#c8102e", "#003da5", "#ffb612", "#00843d", "#1c1c1c", "#6a0dad", "#e35205"],
        "glass": ["#1b2838", "#22303f", "#14202c", "#2a3a4a"],
        "plastic": ["#1c1c1e", "#f0f0f0", "#8a8d91", "#2e4a7a", "#b01c1c", "#d9d9d9"],
        "shade": ["#f5f0e1", "#e8dcc0", "#fafafa", "#c8102e", "#2e4a7a", "#3d6b4f", "#e0b000",
                  "#1c1c1e"],
        "light": ["#fff4d6", "#fffbe8"],
        "rubber": ["#151515", "#202020"],
        "cone": ["#2b2b2e", "#8a8d91", "#c9a227", "#d4d4d8", "#1c1c1e"],
        "hull": ["#f2f2f2", "#1f2f5c", "#8b1a1a", "#2f4f2f", "#e8e2d0", "#202020", "#4d6d8f"],
        "sail": ["#fafafa", "#f0e9d8", "#e8e8e8", "#c8102e"],
        "rifle_metal": ["#1c1c1e", "#2e2e33", "#3b3f36", "#4a4a4f"],
        "rifle_body": ["#6f4e37", "#8b5a2b", "#1c1c1e", "#556b2f", "#c2b280", "#5c4033"],
        "screen": ["#0b0f1a", "#101828", "#0a1a2a"],
        "red": ["#c8102e", "#b01c1c", "#e0301e"],
    }.items()
}


class _Sampler:
    """Records every random choice so that ``build_parts`` can be replayed from the params."""

    def __init__(self, synset: str, rng: np.random.Generator) -> None:
        self.rng = rng
        self.params: dict[str, Any] = {"synset": synset, "variants": {}, "dims": {},
                                       "colors": {}}

    def u(self, name: str, lo: float, hi: float) -> float:
        """Continuous dimension, uniform in [lo, hi]."""
        val = float(self.rng.uniform(lo, hi))
        self.params["dims"][name] = val
        return val

    def choice(self, name: str, options: Sequence[Any], p: Sequence[float] | None = None) -> Any:
        """Structural variant, one of ``options`` (str, bool or int)."""
        idx = int(self.rng.choice(len(options), p=None if p is None else np.asarray(p) / sum(p)))
        val = options[idx]
        val = bool(val) if isinstance(val, bool | np.bool_) else val
        val = int(val) if isinstance(val, int | np.integer) and not isinstance(val, bool) else val
        self.params["variants"][name] = val
        return val

    def color(self, name: str, palette: str, jitter: float = 0.12) -> list[float]:
        """Colour from a named palette with a little brightness jitter; linear RGB (3,)."""
        pal = _PALETTES[palette]
        base = np.asarray(pal[int(self.rng.integers(len(pal)))])
        col = np.clip(base * float(self.rng.uniform(1 - jitter, 1 + jitter)), 0.0, 1.0)
        self.params["colors"][name] = [float(x) for x in col]
        return self.params["colors"][name]

    def same_color(self, name: str, other: str) -> None:
        """Reuse the colour already drawn for ``other``."""
        self.params["colors"][name] = list(self.params["colors"][other])


# ---------------------------------------------------------------------------------------------
# Families. Each has _sample_<name>(s) and _build_<name>(d, v, c, add) where d are the dims,
# v the variants, c the colours and add(mesh, colour_key, name) collects parts.
# ---------------------------------------------------------------------------------------------

Add = Callable[[trimesh.Trimesh, str, str], None]


# ----------------------------------------------------------------------------------- airplane


def _sample_airplane(s: _Sampler) -> None:
    s.u("fuselage_length", 0.9, 1.3)
    s.u("fuselage_radius", 0.045, 0.075)  # fraction of length
    s.u("wing_span", 0.75, 1.2)  # fraction of length
    s.u("wing_sweep_deg", 0.0, 38.0)
    s.u("wing_root_chord", 0.14, 0.26)  # fraction of length
    s.u("wing_taper", 0.25, 0.6)
    s.u("wing_position", 0.32, 0.45)  # root leading edge from the nose, fraction of length
    s.u("wing_dihedral_deg", 0.0, 7.0)
    s.u("tail_scale", 0.75, 1.25)
    s.u("nose_length", 0.07, 0.15)
    s.u("tail_cone_length", 0.18, 0.3)
    s.u("engine_size", 0.45, 0.8)  # nacelle radius / fuselage radius
    engines = s.choice("engines", ["none", "2_wing", "4_wing", "2_rear"], p=[2, 4, 2, 1.5])
    s.choice("tail", ["conventional", "t_tail"], p=[3, 1])
    if engines == "2_rear":
        s.params["variants"]["tail"] = "t_tail"
    s.choice("wing_mount", ["low", "mid", "high"], p=[3, 1, 1.5])
    s.color("fuselage", "aircraft")
    if s.rng.uniform() < 0.6:
        s.same_color("wing", "fuselage")
    else:
        s.color("wing", "aircraft")
    s.color("tail", "accent" if s.rng.uniform() < 0.6 else "aircraft")
    s.color("engine", "metal")
    s.color("window", "glass")


def _airfoil(x: float, y: float, z_le: float, chord: float, t: float) -> list[list[float]]:
    """Four points of a diamond wing section in the plane x = const (leading edge at +z)."""
    return [[x, y, z_le], [x, y + t / 2, z_le - 0.3 * chord], [x, y, z_le - chord],
            [x, y - t / 2, z_le - 0.3 * chord]]


def _fin_section(y: float, z_le: float, chord: float, t: float) -> list[list[float]]:
    """Four points of a vertical-fin section in the plane y = const (thickness along x)."""
    return [[0.0, y, z_le], [t / 2, y, z_le - 0.3 * chord], [0.0, y, z_le - chord],
            [-t / 2, y, z_le - 0.3 * chord]]


def _build_airplane(d: dict, v: dict, add: Add) -> None:
    L = d["fuselage_length"]
    R = d["fuselage_radius"] * L
    span = d["wing_span"] * L
    sweep = math.tan(math.radians(d["wing_sweep_deg"]))
    cr = d["wing_root_chord"] * L
    taper = d["wing_taper"]
    ts = d["tail_scale"]
    nose = d["nose_length"] * L
    tail_cone = d["tail_cone_length"] * L

    # fuselage: a lathe profile (radius, z) from the nose tip to the tail, revolved about z
    prof = [(R * math.sin(a), L / 2 - nose * (1 - math.cos(a)))
            for a in np.linspace(0, math.pi / 2, 7)]
    prof += [(R, -L / 2 + tail_cone), (0.3 * R, -L / 2), (0.0, -L / 2)]
    fus = trimesh.creation.revolve(np.asarray(prof), sections=SECTIONS)
    add(_finish(fus), "fuselage", "fuselage")
    add(_ellipsoid([0, 0.5 * R, L / 2 - 0.8 * nose], [0.8 * R, 0.45 * R, 0.45 * nose]),
        "window", "cockpit")

    # main wings
    y_w = {"low": -0.5 * R, "mid": 0.0, "high": 0.55 * R}[v["wing_mount"]]
    le_root = L / 2 - d["wing_position"] * L
    t_w = 0.12 * cr
    x_root, x_tip = 0.3 * R, span / 2
    le_tip = le_root - sweep * (x_tip - x_root)
    y_tip = y_w + math.tan(math.radians(d["wing_dihedral_deg"])) * (x_tip - x_root)
    for i, sx in enumerate((-1, 1)):
        pts = _airfoil(sx * x_root, y_w, le_root, cr, t_w)
        pts += _airfoil(sx * x_tip, y_tip, le_tip, cr * taper, t_w * 0.8)
        add(_hull(pts), "wing", f"wing_{i}")

    # tail
    chord_v = 0.55 * cr * ts
    h_v = (0.11 * L + 0.3 * R) * ts
    sweep_v = math.tan(math.radians(35.0 + 0.3 * d["wing_sweep_deg"]))
    le_v_root = -L / 2 + chord_v + 0.01 * L
    le_v_tip = le_v_root - sweep_v * (R + h_v)
    fin = _fin_section(0.0, le_v_root, chord_v, 0.14 * chord_v)
    fin += _fin_section(R + h_v, le_v_tip, 0.65 * chord_v, 0.1 * chord_v)
    add(_hull(fin), "tail", "fin")
    span_h = min(0.38 * span * ts, 0.55 * L)
    chord_h = 0.5 * cr * ts
    sweep_h = math.tan(math.radians(min(45.0, d["wing_sweep_deg"] + 8.0)))
    if v["tail"] == "t_tail":
        y_h = R + h_v * 0.97
        le_h = le_v_tip + 0.1 * chord_h
    else:
        y_h = 0.15 * R
        le_h = -L / 2 + chord_h + 0.03 * L
    for i, sx in enumerate((-1, 1)):
        pts = _airfoil(0.0, y_h, le_h, chord_h, 0.12 * chord_h)
        pts += _airfoil(sx * span_h / 2, y_h, le_h - sweep_h * span_h / 2, 0.5 * chord_h,
                        0.1 * chord_h)
        add(_hull(pts), "tail", f"stabilizer_{i}")

    # engines
    Re = d["engine_size"] * R
    Ln = 4.0 * Re
    if v["engines"] in ("2_wing", "4_wing"):
        fracs = [0.33] if v["engines"] == "2_wing" else [0.28, 0.6]
        k = 0
        for u in fracs:
            le = le_root + u * (le_tip - le_root)
            yw = y_w + u * (y_tip - y_w)
            chord = cr + u * (cr * taper - cr)
            yn = yw - 0.06 * chord - 1.15 * Re
            for sx in (-1, 1):
                x = sx * (x_root + u * (x_tip - x_root))
                z0 = le + 0.45 * Ln
                add(_frustum([x, yn, z0], [x, yn, z0 - Ln], Re, 0.7 * Re), "engine", f"engine_{k}")
                add(_box([x - 0.2 * Re, yn, le - 0.55 * chord], [x + 0.2 * Re, yw, le + 0.2 * Ln]),
                    "wing", f"pylon_{k}")
                k += 1
    elif v["engines"] == "2_rear":
        zc = -L / 2 + tail_cone + 0.25 * Ln
        for k, sx in enumerate((-1, 1)):
            x = sx * (R + 1.2 * Re)
            add(_frustum([x, 0.3 * R, zc + Ln / 2], [x, 0.3 * R, zc - Ln / 2], Re, 0.75 * Re),
                "engine", f"engine_{k}")
            add(_box([0.0, 0.15 * R, zc - 0.3 * Ln], [x, 0.45 * R, zc + 0.2 * Ln]), "fuselage",
                f"pylon_{k}")


# -------------------------------------------------------------------------------------- bench


def _sample_bench(s: _Sampler) -> None:
    s.u("length", 1.1, 2.0)
    s.u("depth", 0.35, 0.6)
    s.u("seat_height", 0.38, 0.5)
    s.u("seat_thickness", 0.04, 0.08)
    s.u("leg_thickness", 0.06, 0.1)
    s.u("leg_inset", 0.02, 0.15)
    s.u("back_height", 0.3, 0.5)
    s.u("back_tilt_deg", 0.0, 15.0)
    s.u("arm_height", 0.18, 0.28)
    s.choice("legs", ["four", "panels", "trestle"])
    s.choice("back", [True, False], p=[3, 2])
    s.choice("slats", [True, False])
    s.choice("arms", [True, False], p=[1, 2])
    s.color("seat", "wood")
    if s.rng.uniform() < 0.5:
        s.same_color("frame", "seat")
    else:
        s.color("frame", "metal")


def _build_bench(d: dict, v: dict, add: Add) -> None:
    L, D, H = d["length"], d["depth"], d["seat_height"]
    st, lt = d["seat_thickness"], d["leg_thickness"]
    xs = L / 2 - d["leg_inset"] - lt / 2
    y_seat0 = H - st
    if v["slats"]:
        n, gap = 4, 0.02
        w = (D - (n - 1) * gap) / n
        for i in range(n):
            z0 = -D / 2 + i * (w + gap)
            add(_box([-L / 2, y_seat0, z0], [L / 2, H, z0 + w]), "seat", f"seat_slat_{i}")
    else:
        add(_box([-L / 2, y_seat0, -D / 2], [L / 2, H, D / 2]), "seat", "seat")

    top = y_seat0 + 0.005
    if v["legs"] == "four":
        k = 0
        for x in _sym(xs):
            for z in _sym(D / 2 - lt / 2 - 0.02):
                add(_cbox([x, top / 2, z], [lt, top, lt]), "frame", f"leg_{k}")
                k += 1
            add(_cbox([x, 0.25 * H, 0], [0.8 * lt, 0.8 * lt, D - 0.04]), "frame", f"rail_{k}")
            add(_cbox([x, y_seat0 - 0.4 * lt + 0.005, 0], [lt, 0.8 * lt, D - 0.04]), "frame",
                f"seat_rail_{k}")
    elif v["legs"] == "panels":
        for i, x in enumerate(_sym(xs)):
            add(_cbox([x, top / 2, 0], [lt, top, 0.9 * D]), "frame", f"panel_{i}")
    else:
        for i, x in enumerate(_sym(xs)):
            add(_cbox([x, top / 2, 0], [lt, top, 1.4 * lt]), "frame", f"post_{i}")
            add(_cbox([x, lt / 2, 0], [1.2 * lt, lt, 0.9 * D]), "frame", f"foot_{i}")
            add(_cbox([x, y_seat0 - lt / 2 + 0.005, 0], [lt, lt, 0.85 * D]), "frame",
                f"cross_{i}")
        add(_cbox([0, 0.35 * H, 0], [2 * xs, lt, lt]), "frame", "stretcher")

    if v["back"]:
        bh = d["back_height"]
        zb = -D / 2 + lt / 2
        tilt = _about([0, y_seat0, zb], _rot("x", -d["back_tilt_deg"]))
        for i, x in enumerate(_sym(xs)):
            add(_cbox([x, y_seat0 + (bh + st) / 2, zb], [lt, bh + st, lt], tilt), "frame",
                f"back_post_{i}")
        if v["slats"]:
            n, gap = 3, 0.03
            h = (0.75 * bh - (n - 1) * gap) / n
            for i in range(n):
                y0 = H + 0.25 * bh + i * (h + gap)
                add(_box([-L / 2, y0, zb], [L / 2, y0 + h, zb + 0.8 * lt], tilt), "seat",
                    f"back_slat_{i}")
        else:
            add(_box([-L / 2, H + 0.2 * bh, zb], [L / 2, H + bh, zb + 0.8 * lt], tilt), "seat",
                "back")
    if v["arms"]:
        ah = d["arm_height"]
        for i, x in enumerate(_sym(xs)):
            add(_cbox([x, H + ah / 2 - 0.01, D / 2 - lt], [lt, ah, lt]), "frame", f"arm_post_{i}")
            add(_box([x - 0.8 * lt, H + ah - 0.01, -D / 2], [x + 0.8 * lt, H + ah + 0.7 * lt,
                                                               D / 2]), "frame", f"armrest_{i}")


# ------------------------------------------------------------------------------------ cabinet


def _sample_cabinet(s: _Sampler) -> None:
    s.u("width", 0.5, 1.3)
    s.u("height", 0.6, 1.9)
    s.u("depth", 0.35, 0.6)
    s.u("top_overhang", 0.0, 0.04)
    s.u("base_height", 0.06, 0.16)
    s.u("front_margin", 0.02, 0.05)
    s.u("handle_length", 0.08, 0.2)
    s.choice("front", ["doors2", "door1", "drawers", "doors_drawers"])
    s.choice("n_drawers", [2, 3, 4, 5])
    s.choice("base", ["plinth", "legs", "none"])
    s.choice("handle", ["bar", "knob"])
    s.color("body", "wood" if s.rng.uniform() < 0.6 else "plastic")
    if s.rng.uniform() < 0.5:
        s.same_color("front", "body")
    else:
        s.color("front", "wood" if s.rng.uniform() < 0.5 else "plastic")
    s.color("handle", "metal")
    s.color("base", "dark" if s.rng.uniform() < 0.5 else "metal")


def _build_cabinet(d: dict, v: dict, add: Add) -> None:
    W, H, D = d["width"], d["height"], d["depth"]
    o, m, hl = d["top_overhang"], d["front_margin"], d["handle_length"]
    base = 0.0 if v["base"] == "none" else d["base_height"]
    top_t = 0.035
    add(_box([-W / 2, base, -D / 2], [W / 2, H - top_t / 2, D / 2]), "body", "body")
    add(_box([-W / 2 - o, H - 0.12, -D / 2 - o / 2], [W / 2 + o, H, D / 2 + o]), "body", "top")
    if v["base"] == "plinth":
        add(_box([-W / 2 + 0.03, 0, -D / 2 + 0.03], [W / 2 - 0.03, base + 0.02, D / 2 - 0.05]),
            "base", "plinth")
    elif v["base"] == "legs":
        k = 0
        for x in _sym(W / 2 - 0.06):
            for z in _sym(D / 2 - 0.06):
                add(_cyl([x, 0, z], [x, base + 0.02, z], 0.03), "base", f"leg_{k}")
                k += 1

    zf = D / 2
    x0, x1, y0, y1 = -W / 2 + m, W / 2 - m, base + m, H - o - top_t - m
    gap = 0.01
    panels: list[tuple[float, float, float, float, str]] = []  # x0, x1, y0, y1, handle spot
    if v["front"] == "door1":
        panels.append((x0, x1, y0, y1, "right"))
    elif v["front"] == "doors2":
        panels += [(x0, -gap / 2, y0, y1, "right"), (gap / 2, x1, y0, y1, "left")]
    elif v["front"] == "drawers":
        n = v["n_drawers"]
        h = (y1 - y0 - (n - 1) * gap) / n
        panels += [(x0, x1, y0 + i * (h + gap), y0 + i * (h + gap) + h, "top") for i in range(n)]
    else:
        yd = y1 - 0.22 * (y1 - y0)
        panels.append((x0, x1, yd + gap / 2, y1, "top"))
        panels += [(x0, -gap / 2, y0, yd - gap / 2, "right"),
                   (gap / 2, x1, y0, yd - gap / 2, "left")]
    for i, (a, b, c0, c1, spot) in enumerate(panels):
        add(_box([a, c0, zf - 0.5 * D], [b, c1, zf + 0.012]), "front", f"front_{i}")
        if spot == "top":
            hx, hy = (a + b) / 2, c1 - min(0.08, 0.3 * (c1 - c0))
            horizontal = True
        else:
            hx = b - 0.06 if spot == "right" else a + 0.06
            hy, horizontal = (c0 + c1) / 2 if c1 - c0 < 1.0 else c0 + 0.55 * (c1 - c0), False
        if v["handle"] == "knob":
            add(_cyl([hx, hy, zf - 0.02], [hx, hy, zf + 0.045], 0.02), "handle", f"handle_{i}")
        else:
            size = [hl, 0.025, 0.06] if horizontal else [0.025, hl, 0.06]
            add(_cbox([hx, hy, zf + 0.012], size), "handle", f"handle_{i}")


# ---------------------------------------------------------------------------------------- car


def _sample_car(s: _Sampler) -> None:
    s.u("length", 3.8, 5.0)
    s.u("width", 1.65, 1.95)
    s.u("ground_clearance", 0.15, 0.26)
    s.u("body_height", 0.5, 0.75)
    s.u("cabin_height", 0.42, 0.58)
    s.u("wheel_radius", 0.3, 0.37)
    s.u("hood_length", 0.22, 0.32)  # fraction of length
    s.u("rear_length", 0.15, 0.24)  # trunk, fraction of length
    s.u("wheelbase", 0.56, 0.64)  # fraction of length
    s.u("windshield_slope", 0.8, 1.4)  # horizontal run per unit cabin height
    s.choice("body", ["sedan", "hatchback", "pickup", "suv"], p=[3, 2, 1.5, 2])
    s.choice("spoiler", [False, True], p=[4, 1])
    s.color("body", "paint")
    s.color("glass", "glass")
    s.color("tire", "rubber")
    s.color("hub", "metal")
    s.color("headlight", "light")
    s.color("taillight", "red")


def _build_car(d: dict, v: dict, add: Add) -> None:
    kind = v["body"]
    L, W = d["length"], d["width"]
    clr, bh, ch, wr = d["ground_clearance"], d["body_height"], d["cabin_height"], d["wheel_radius"]
    if kind == "suv":
        clr, bh, ch, wr = clr * 1.3, bh * 1.15, ch * 1.15, wr * 1.1
    elif kind == "pickup":
        clr, bh, wr = clr * 1.2, bh * 1.1, wr * 1.08
    y0, y1 = clr, clr + bh
    rear_v = kind in ("hatchback", "suv", "pickup")
    body = [(L / 2 - 0.04 * L, y0), (L / 2, y0 + 0.45 * bh), (L / 2 - 0.05 * L, y1),
            (-L / 2 + (0.015 if rear_v else 0.03) * L, y1),
            (-L / 2, y1 - (0.15 if rear_v else 0.3) * bh), (-L / 2, y0 + 0.3 * bh),
            (-L / 2 + 0.04 * L, y0)]
    add(_prism_zy(body, -W / 2, W / 2), "body", "body")

    # cabin (greenhouse) side profile
    z_ws = L / 2 - d["hood_length"] * L
    run = d["windshield_slope"] * ch
    yb, yt = y1 - 0.02, y1 + ch
    if kind == "sedan":
        zr = -L / 2 + d["rear_length"] * L
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.9 * ch, yt), (zr, yb)]
    elif kind == "hatchback":
        zr = -L / 2 + 0.03 * L
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.45 * ch, yt), (zr, yb)]
    elif kind == "suv":
        zr = -L / 2 + 0.02 * L
        run *= 0.75
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.12 * ch, yt), (zr, yb)]
    else:
        zr = z_ws - 0.32 * L
        run *= 0.7
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.05 * ch, yt), (zr, yb)]
    wc = 0.9 * W
    add(_prism_zy(cab, -wc / 2, wc / 2), "body", "cabin")

    # windows: side glass (wide in x) and front/rear glass (protruding from the slopes)
    ga, gb = y1 + 0.1 * ch, y1 + 0.84 * ch
    pil = 0.1
    side = [(_edge_z(cab, ga, 1) - pil, ga), (_edge_z(cab, gb, 1) - pil, gb),
            (_edge_z(cab, gb, -1) + pil, gb), (_edge_z(cab, ga, -1) + pil, ga)]
    add(_prism_zy(side, -wc / 2 - 0.012, wc / 2 + 0.012), "glass", "side_windows")
    for name, sgn in (("windshield", 1), ("rear_window", -1)):
        za, zb = _edge_z(cab, ga, sgn), _edge_z(cab, gb, sgn)
        band = [(za + sgn * 0.015, ga), (zb + sgn * 0.015, gb), (zb - sgn * 0.45, gb),
                (za - sgn * 0.45, ga)]
        add(_prism_zy(band, -wc / 2 + 0.08, wc / 2 - 0.08), "glass", name)

    if kind == "pickup":
        wt, bed_h = 0.18, 0.4 * ch
        z_bed0, z_bed1 = -L / 2 + 0.015 * L, zr + 0.02
        for i, x in enumerate(_sym(W / 2 - wt / 2)):
            add(_box([x - wt / 2, y1 - 0.05, z_bed0], [x + wt / 2, y1 + bed_h, z_bed1]), "body",
                f"bed_wall_{i}")
        add(_box([-W / 2, y1 - 0.05, z_bed0], [W / 2, y1 + bed_h, z_bed0 + wt]), "body",
            "tailgate")
    if v["spoiler"] and kind in ("sedan", "hatchback"):
        zs = -L / 2 + 0.05 * L if kind == "sedan" else cab[2][0] - 0.05
        ys = y1 + 0.12 if kind == "sedan" else yt + 0.02
        add(_box([-0.45 * W, ys - 0.1, zs - 0.25], [0.45 * W, ys + 0.1, zs]), "body", "spoiler")

    # lights follow the body's front and rear faces
    for name, key, sgn in (("headlight", "headlight", 1), ("taillight", "taillight", -1)):
        la, lb = y0 + 0.45 * bh, y0 + 0.8 * bh
        za, zb = _edge_z(body, la, sgn), _edge_z(body, lb, sgn)
        prof = [(za + sgn * 0.02, la), (zb + sgn * 0.02, lb), (zb - sgn * 0.3, lb),
                (za - sgn * 0.3, la)]
        for i, x in enumerate(_sym(W / 2 - 0.24)):
            add(_prism_zy(prof, x - 0.18, x + 0.18), key, f"{name}_{i}")

    # wheels
    wb = d["wheelbase"] * L
    k = 0
    for z in _sym(wb / 2):
        for sx in (-1, 1):
            xo = sx * (W / 2 + 0.015)
            xi = sx * (W / 2 - 0.23)
            add(_cyl([xi, wr, z], [xo, wr, z], wr), "tire", f"wheel_{k}")
            add(_cyl([sx * (W / 2 - 0.17), wr, z], [sx * (W / 2 + 0.035), wr, z], 0.6 * wr), "hub",
                f"hub_{k}")
            k += 1


# -------------------------------------------------------------------------------------- chair


def _sample_chair(s: _Sampler) -> None:
    s.u("seat_width", 0.42, 0.6)
    s.u("seat_depth", 0.4, 0.55)
    s.u("seat_height", 0.4, 0.5)
    s.u("seat_thickness", 0.04, 0.1)
    s.u("back_height", 0.32, 0.62)
    s.u("back_tilt_deg", 0.0, 18.0)
    s.u("back_thickness", 0.04, 0.08)
    s.u("leg_thickness", 0.04, 0.065)
    s.u("arm_height", 0.18, 0.26)
    s.choice("base", ["four_legs", "pedestal", "sled"], p=[5, 2, 1.5])
    s.choice("legs_round", [False, True])
    s.choice("back", ["solid", "slats"], p=[3, 2])
    s.choice("arms", [False, True], p=[3, 2])
    fabric = s.rng.uniform() < 0.5
    s.color("seat", "fabric" if fabric else "wood")
    if s.rng.uniform() < 0.6:
        s.same_color("back", "seat")
    else:
        s.color("back", "fabric" if fabric else "wood")
    s.color("frame", "metal" if s.rng.uniform() < 0.5 else "wood")


def _build_chair(d: dict, v: dict, add: Add) -> None:
    W, D, H = d["seat_width"], d["seat_depth"], d["seat_height"]
    st, bt, lt = d["seat_thickness"], d["back_thickness"], d["leg_thickness"]
    bh = d["back_height"]
    y_s0 = H - st
    add(_box([-W / 2, y_s0, -D / 2], [W / 2, H, D / 2]), "seat", "seat")

    zb = -D / 2 + bt / 2
    tilt = _about([0, y_s0, zb], _rot("x", -d["back_tilt_deg"]))
    if v["back"] == "solid":
        add(_box([-W / 2, y_s0 + 0.01, zb - bt / 2], [W / 2, H + bh, zb + bt / 2], tilt), "back",
            "back")
    else:
        for i, x in enumerate(_sym(W / 2 - lt / 2)):
            add(_box([x - lt / 2, y_s0 + 0.01, zb - bt / 2], [x + lt / 2, H + bh, zb + bt / 2],
                     tilt), "frame" if v["base"] != "pedestal" else "back", f"back_post_{i}")
        add(_box([-W / 2, H + 0.72 * bh, zb - bt / 2], [W / 2, H + bh, zb + bt / 2], tilt), "back",
            "top_rail")
        n = 3
        for i, x in enumerate(np.linspace(-W / 4, W / 4, n)):
            add(_box([x - 0.025, H - 0.01, zb - bt / 3], [x + 0.025, H + 0.74 * bh, zb + bt / 3],
                     tilt), "back", f"back_slat_{i}")

    if v["base"] == "four_legs":
        k = 0
        for x in _sym(W / 2 - lt / 2 - 0.01):
            for z in _sym(D / 2 - lt / 2 - 0.01):
                if v["legs_round"]:
                    add(_cyl([x, 0, z], [x, y_s0 + 0.01, z], lt / 2), "frame", f"leg_{k}")
                else:
                    add(_cbox([x, (y_s0 + 0.01) / 2, z], [lt, y_s0 + 0.01, lt]), "frame",
                        f"leg_{k}")
                k += 1
        add(_cbox([0, 0.25 * H, D / 2 - lt / 2 - 0.01], [W - 0.04, 0.7 * lt, 0.7 * lt]),
            "frame", "stretcher")
    elif v["base"] == "pedestal":
        yc = 0.09
        add(_cyl([0, yc, 0], [0, y_s0 + 0.01, 0], 0.03), "frame", "column")
        add(_cyl([0, yc - 0.03, 0], [0, y_s0 - 0.1, 0], 0.045), "frame", "column_sleeve")
        reach = 0.62 * max(W, D)
        for i in range(5):
            rot = _rot("y", 72.0 * i)
            add(_box([-0.025, yc - 0.02, 0], [0.025, yc + 0.03, reach], rot), "frame",
                f"spoke_{i}")
            caster = rot @ np.array([0.0, 0.035, reach - 0.02, 1.0])
            add(_ellipsoid(caster[:3], [0.035, 0.035, 0.035], subdiv=1), "frame", f"caster_{i}")
    else:
        for i, x in enumerate(_sym(W / 2 - lt / 2)):
            add(_box([x - lt / 2, 0, -D / 2 - 0.02], [x + lt / 2, lt, D / 2 + 0.02]), "frame",
                f"runner_{i}")
            for j, z in enumerate((D / 2 - lt, -D / 2 + lt)):
                lean = 8.0 if j == 0 else -8.0
                post = _box([x - lt / 2, 0, z - lt / 2], [x + lt / 2, y_s0 + 0.01, z + lt / 2],
                            _about([x, 0, z], _rot("x", lean)))
                add(post, "frame", f"sled_post_{i}_{j}")

    if v["arms"]:
        ah = d["arm_height"]
        for i, x in enumerate(_sym(W / 2 - lt / 2)):
            add(_box([x - lt / 2, H - 0.01, D / 2 - 0.06 - lt], [x + lt / 2, H + ah, D / 2 - 0.06]),
                "frame", f"arm_post_{i}")
            add(_box([x - 0.035, H + ah - 0.01, -D / 2 + 0.02], [x + 0.035, H + ah + 0.04,
                                                                  D / 2 - 0.02]), "frame",
                f"armrest_{i}")


# ------------------------------------------------------------------------------------ display


def _sample_display(s: _Sampler) -> None:
    s.u("width", 0.45, 0.9)
    s.u("aspect", 0.5, 0.78)  # height / width
    s.u("panel_thickness", 0.035, 0.07)
    s.u("bezel", 0.01, 0.045)
    s.u("stand_height", 0.06, 0.2)
    s.u("foot_width", 0.25, 0.5)  # fraction of width
    s.u("foot_depth", 0.14, 0.25)
    s.u("tilt_deg", 0.0, 10.0)
    s.u("crt_depth", 0.6, 1.0)  # fraction of height
    s.choice("stand", ["rect_foot", "round_foot", "two_feet"])
    s.choice("housing", ["flat", "rear_box", "crt"], p=[4, 2, 1])
    s.color("bezel", "plastic")
    s.color("screen", "screen", jitter=0.3)
    if s.rng.uniform() < 0.6:
        s.same_color("stand", "bezel")
    else:
        s.color("stand", "metal")


def _build_display(d: dict, v: dict, add: Add) -> None:
    W = d["width"]
    H = d["aspect"] * W
    t, bz = d["panel_thickness"], d["bezel"]
    sh = d["stand_height"]
    if v["stand"] == "two_feet":
        sh = 0.5 * sh
    tilt = _about([0, sh, 0], _rot("x", -d["tilt_deg"]))
    y0, y1 = sh, sh + H
    add(_box([-W / 2, y0, -t / 2], [W / 2, y1, t / 2], tilt), "bezel", "panel")
    add(_box([-W / 2 + bz, y0 + bz * (2.0 if H > 0.3 else 1.0), -t / 2 + 0.005],
             [W / 2 - bz, y1 - bz, t / 2 + 0.004], tilt), "screen", "screen")
    z_back = -t / 2
    if v["housing"] == "rear_box":
        db = 0.8 * t + 0.02
        add(_box([-0.35 * W, y0 + 0.2 * H, -t / 2 - db], [0.35 * W, y1 - 0.2 * H, 0.0], tilt),
            "bezel", "rear_box")
        z_back = -t / 2 - db
    elif v["housing"] == "crt":
        dc = d["crt_depth"] * H
        yc = (y0 + y1) / 2
        pts = [[x, y, 0.0] for x in _sym(0.48 * W) for y in (y0 + 0.02 * H, y1 - 0.02 * H)]
        pts += [[x, y, -dc] for x in _sym(0.22 * W) for y in (yc - 0.2 * H, yc + 0.2 * H)]
        add(_hull(pts, tilt), "bezel", "tube")
        z_back = -0.5 * dc

    fd = d["foot_depth"]
    if v["stand"] == "two_feet":
        for i, x in enumerate(_sym(0.36 * W)):
            leg = [[x + dx, y0 + 0.05 * H, dz] for dx in _sym(0.02) for dz in _sym(0.025)]
            leg += [[x + dx, 0.0, dz] for dx in _sym(0.03) for dz in _sym(fd * 0.6)]
            add(_hull(leg), "stand", f"foot_{i}")
            add(_box([x - 0.03, 0.0, -fd * 0.6], [x + 0.03, 0.035, fd * 0.6]), "stand",
                f"foot_bar_{i}")
    else:
        zn = max(z_back, -0.5 * t - 0.12) if v["housing"] == "crt" else z_back
        zn = zn - 0.015
        yn = y0 + 0.45 * H
        add(_box([-0.06 * W - 0.02, 0.0, zn - 0.02], [0.06 * W + 0.02, yn, zn + 0.025]), "stand",
            "neck")
        # the panel is tilted: attach the neck with a block bridging neck and panel back
        add(_box([-0.05 * W, y0 + 0.2 * H, zn - 0.01], [0.05 * W, yn, z_back + 0.03], tilt),
            "stand", "mount")
        fz = zn + 0.02
        if v["stand"] == "rect_foot":
            fw = d["foot_width"] * W
            add(_box([-fw / 2, 0, fz - fd / 2 - 0.03], [fw / 2, 0.03, fz + fd / 2 + 0.03]),
                "stand", "foot")
        else:
            r = max(0.5 * d["foot_width"] * W, fd) * 0.7
            add(_frustum([0, 0, fz], [0, 0.03, fz], r, 0.9 * r), "stand", "foot")


# --------------------------------------------------------------------------------------- lamp


def _sample_lamp(s: _Sampler) -> None:
    kind = s.choice("kind", ["desk", "floor"])
    s.u("height", 0.35, 0.65)
    s.u("floor_height", 1.2, 1.7)
    s.u("base_radius", 0.08, 0.16)  # scaled by height / 0.5
    s.u("base_height", 0.02, 0.05)
    s.u("stem_radius", 0.02, 0.03)  # fraction of height
    s.u("shade_radius", 0.08, 0.16)  # scaled by height / 0.5
    s.u("shade_top_ratio", 0.35, 0.75)
    s.u("shade_height", 0.1, 0.2)  # scaled by height / 0.5
    s.u("arm_angle_deg", 15.0, 45.0)
    s.choice("shade", ["cone", "cylinder", "dome"])
    s.choice("arm", ["straight", "bent"], p=[3, 2] if kind == "desk" else [1, 1])
    s.choice("base_shape", ["round", "square"], p=[3, 1])
    s.color("base", "metal" if s.rng.uniform() < 0.6 else "plastic")
    if s.rng.uniform() < 0.6:
        s.same_color("stem", "base")
    else:
        s.color("stem", "metal")
    s.color("shade", "shade")
    s.color("bulb", "light")


def _shade(kind: str, top: np.ndarray, axis: np.ndarray, r: float, ratio: float, h: float
           ) -> trimesh.Trimesh:
    """Solid lamp shade whose narrow end is at ``top`` (3,), opening along unit ``axis`` (3,)."""
    bottom = top + axis * h
    if kind == "cone":
        return _frustum(top, bottom, r * ratio, r)
    if kind == "cylinder":
        return _frustum(top, bottom, 0.92 * r, r)
    # dome: a half ellipsoid, as the hull of its upper half and the rim circle
    pts = [_circle(top + axis * (h * (1 - math.cos(a))), axis, r * math.sin(a) + 1e-3, 16)
           for a in np.linspace(0.25, math.pi / 2, 5)]
    return _hull(np.concatenate(pts + [top[None]]))


def _build_lamp(d: dict, v: dict, add: Add) -> None:
    Ht = d["height"] if v["kind"] == "desk" else d["floor_height"]
    sc = Ht / 0.5 if v["kind"] == "desk" else 1.0 + 0.3 * (Ht - 1.2)
    br, bh = d["base_radius"] * sc, d["base_height"] * sc
    sr = d["stem_radius"] * Ht * (0.5 if v["kind"] == "floor" else 1.0)
    r, ratio, sh = d["shade_radius"] * sc, d["shade_top_ratio"], d["shade_height"] * sc
    if v["kind"] == "floor":
        grow = 1.5 if v["arm"] == "straight" else 1.1
        r, sh = r * grow, sh * grow
    if v["base_shape"] == "round":
        add(_lathe_y([(0, 0), (br, 0), (br, 0.6 * bh), (0.7 * br, bh), (0, bh)]), "base", "base")
    else:
        add(_box([-br, 0, -br], [br, bh, br]), "base", "base")

    if v["arm"] == "straight":
        top = np.array([0.0, Ht, 0.0])
        add(_cyl([0, bh - 0.005, 0], [0, Ht - 0.6 * sh, 0], sr), "stem", "stem")
        add(_shade(v["shade"], top, np.array([0.0, -1.0, 0.0]), r, ratio, sh), "shade", "shade")
        add(_ellipsoid([0, Ht - sh - 0.1 * r, 0], [0.35 * r, 0.35 * r, 0.35 * r], subdiv=1),
            "bulb", "bulb")
        return
    a = math.radians(d["arm_angle_deg"])
    if v["kind"] == "desk":
        r, sh = 0.7 * r, 0.8 * sh
        l1, l2 = 0.6 * Ht, 0.55 * Ht
        p0 = np.array([0.0, bh, -0.4 * br])
        p1 = p0 + l1 * np.array([0.0, math.cos(a), -math.sin(a)])
        dir2 = np.array([0.0, math.sin(a) * 0.5, math.cos(a * 0.5)])
        p2 = p1 + l2 * dir2 / np.linalg.norm(dir2)
        axis = np.array([0.0, -math.cos(0.6 * a), math.sin(0.6 * a)])
    else:
        p0 = np.array([0.0, bh, 0.0])
        p1 = np.array([0.0, Ht, 0.0])
        reach = 0.35 * Ht * (0.6 + math.sin(a))
        p2 = p1 + np.array([0.0, 0.05 * Ht, reach])
        axis = np.array([0.0, -1.0, 0.0])
    add(_cyl(p0 - [0, 0.005, 0], p1, sr), "stem", "arm_lower")
    add(_ellipsoid(p1, [1.6 * sr] * 3, subdiv=1), "stem", "joint")
    add(_cyl(p1, p2, sr), "stem", "arm_upper")
    top = p2 - 0.15 * sh * axis
    add(_shade(v["shade"], top, axis, r, ratio, sh), "shade", "shade")
    add(_ellipsoid(top + axis * (sh + 0.05 * r), [0.3 * r] * 3, subdiv=1), "bulb", "bulb")


# -------------------------------------------------------------------------------- loudspeaker


def _sample_loudspeaker(s: _Sampler) -> None:
    s.u("width", 0.18, 0.32)
    s.u("height_ratio", 0.9, 1.2)  # relative to the form's nominal height
    s.u("depth", 0.2, 0.36)
    s.u("woofer_size", 0.6, 0.85)  # woofer diameter / width
    s.u("tweeter_size", 0.25, 0.4)  # tweeter diameter / width
    s.u("protrusion", 0.008, 0.02)
    s.u("plinth_height", 0.02, 0.05)
    s.choice("form", ["tower", "bookshelf", "sub"], p=[2, 2, 1])
    s.choice("plinth", [False, True])
    s.choice("port", [False, True])
    s.color("box", "wood" if s.rng.uniform() < 0.5 else "plastic")
    s.color("surround", "rubber")
    s.color("cone", "cone")
    s.color("cap", "dark")
    s.color("plinth", "dark")


def _build_loudspeaker(d: dict, v: dict, add: Add) -> None:
    W, D, p = d["width"], d["depth"], d["protrusion"]
    form = v["form"]
    H = d["height_ratio"] * {"tower": 0.95, "bookshelf": 0.33, "sub": 0.4}[form]
    if form == "sub":
        W, D = 1.3 * H, 1.1 * H
    elif form == "tower":
        W *= 1.1
    else:
        W = min(W, 0.75 * H)
        D = min(D, 1.1 * W)
    yb = d["plinth_height"] if v["plinth"] else 0.0
    add(_box([-W / 2, yb, -D / 2], [W / 2, yb + H, D / 2]), "box", "box")
    if v["plinth"]:
        add(_box([-W / 2 - 0.02, 0, -D / 2 - 0.02], [W / 2 + 0.02, yb + 0.01, D / 2 + 0.02]),
            "plinth", "plinth")
    zf = D / 2
    rw = 0.5 * d["woofer_size"] * W
    rt = 0.5 * d["tweeter_size"] * W
    if form == "sub":
        drivers = [("woofer", yb + H / 2, 0.36 * H)]
    elif form == "bookshelf":
        gap = 0.05 * H
        rw = min(rw, (H - 2 * rt - 4 * gap) / 2)
        yw = yb + gap + rw
        drivers = [("woofer", yw, rw), ("tweeter", yw + rw + gap + rt, rt)]
    else:
        drivers = [("tweeter", yb + H - 1.4 * rt - 0.03, rt)]
        yc = yb + H - 2.8 * rt - 0.05 - rw
        for _ in range(3 if H > 0.95 else 2):
            drivers.append(("woofer", yc, rw))
            yc -= 2 * rw + 0.03
    for i, (kind, yc, r) in enumerate(drivers):
        add(_cyl([0, yc, zf - 0.3 * D], [0, yc, zf + p], r), "surround", f"{kind}_{i}_surround")
        add(_cyl([0, yc, zf - 0.3 * D], [0, yc, zf + 1.6 * p], 0.8 * r), "cone", f"{kind}_{i}_cone")
        add(_ellipsoid([0, yc, zf + 1.5 * p], [0.35 * r, 0.35 * r, 0.3 * r + p], subdiv=1),
            "cap" if kind == "woofer" else "cone", f"{kind}_{i}_cap")
    if v["port"]:
        # bass-reflex port below the lowest driver (in a corner for a sub)
        rp = 0.08 * W if form == "sub" else 0.12 * W
        lowest = min(yc - r for _, yc, r in drivers)
        if form == "sub":
            xp, yp = W / 2 - rp - 0.03, yb + rp + 0.03
        else:
            xp, yp = 0.0, yb + max(rp + 0.02, 0.5 * (lowest - yb))
        if form == "sub" or yp + rp < lowest:
            add(_cyl([xp, yp, zf - 0.2 * D], [xp, yp, zf + 0.5 * p], rp), "surround", "port")


# -------------------------------------------------------------------------------------- rifle


def _sample_rifle(s: _Sampler) -> None:
    s.u("length", 0.9, 1.3)
    s.u("barrel_length", 0.3, 0.45)  # fraction of length
    s.u("barrel_radius", 0.02, 0.028)  # fraction of length
    s.u("stock_length", 0.25, 0.33)  # fraction of length
    s.u("stock_drop", 0.1, 0.17)  # butt height, fraction of length
    s.u("receiver_height", 0.07, 0.1)  # fraction of length
    s.u("magazine_length", 0.12, 0.22)  # fraction of length
    s.u("magazine_angle_deg", 0.0, 25.0)
    s.u("body_width", 0.045, 0.06)  # fraction of length
    s.choice("stock", ["solid", "skeleton"], p=[3, 1])
    s.choice("magazine", ["box", "curved", "none"], p=[3, 2, 2])
    s.choice("scope", [False, True])
    s.choice("grip", ["pistol", "traditional"])
    s.choice("handguard", [True, False])
    s.color("stock", "rifle_body")
    s.color("metal", "rifle_metal")
    if s.rng.uniform() < 0.5:
        s.same_color("handguard", "stock")
    else:
        s.color("handguard", "rifle_metal")
    s.color("scope", "rifle_metal")


def _build_rifle(d: dict, v: dict, add: Add) -> None:
    L = d["length"]
    sl, bl = d["stock_length"] * L, d["barrel_length"] * L
    rh, w, br = d["receiver_height"] * L, d["body_width"] * L, d["barrel_radius"] * L
    drop = d["stock_drop"] * L
    z_rec0, z_rec1 = -L / 2 + sl, L / 2 - bl
    y_top, y_bot = 0.4 * rh, -0.6 * rh
    add(_box([-w / 2, y_bot, z_rec0 - 0.02], [w / 2, y_top, z_rec1]), "metal", "receiver")
    add(_cyl([0, 0, z_rec1 - 0.03], [0, 0, L / 2], br), "metal", "barrel")
    add(_cyl([0, 0, L / 2 - 0.04 * L], [0, 0, L / 2 + 0.01], 1.35 * br), "metal", "muzzle")
    add(_box([-0.3 * w, br * 0.5, L / 2 - 0.07 * L], [0.3 * w, 2.2 * br + 0.01, L / 2 - 0.04 * L]),
        "metal", "front_sight")

    zb = -L / 2
    if v["stock"] == "solid":
        prof = [(zb, y_top - 0.05 * rh), (zb, y_top - drop), (z_rec0 + 0.01, y_bot - 0.15 * rh),
                (z_rec0 + 0.01, y_top - 0.1 * rh)]
        if v["grip"] == "traditional":
            prof[2] = (z_rec0 + 0.05 * L, y_bot - 0.45 * rh)
        add(_prism_zy(prof, -w / 2, w / 2), "stock", "stock")
    else:
        bar = 0.45 * rh
        add(_box([-w / 2, y_top - 0.05 * rh - drop, zb], [w / 2, y_top - 0.05 * rh, zb + 0.04 * L]),
            "stock", "butt_plate")
        add(_box([-0.4 * w, y_top - 0.05 * rh - bar, zb], [0.4 * w, y_top - 0.05 * rh,
                                                            z_rec0 + 0.01]), "stock", "stock_bar")
        lo = [[x, y, zb + 0.02 * L] for x in _sym(0.4 * w)
              for y in (y_top - drop, y_top - drop + bar)]
        lo += [[x, y, z_rec0 + 0.01] for x in _sym(0.4 * w) for y in (y_bot, y_bot + bar)]
        add(_hull(lo), "stock", "stock_lower_bar")

    if v["grip"] == "pistol":
        g = _box([-0.45 * w, y_bot - 0.13 * L, -0.025 * L], [0.45 * w, y_bot + 0.01, 0.025 * L],
                 _about([0, y_bot, 0], _rot("x", 18.0)) @ _translate([0, 0, z_rec0 + 0.07 * L]))
        add(g, "stock", "grip")
    tg = [z_rec0 + 0.1 * L, z_rec0 + 0.18 * L]
    add(_box([-0.3 * w, y_bot - 0.045 * L, tg[0]], [0.3 * w, y_bot + 0.01, tg[1]]), "metal",
        "trigger_guard")

    if v["handguard"] or v["grip"] == "traditional":
        z_h1 = z_rec1 + 0.45 * bl if v["grip"] == "traditional" else z_rec1 + 0.35 * bl
        yb_h = y_bot if v["grip"] == "traditional" else -1.6 * br
        add(_box([-0.5 * w, yb_h, z_rec1 - 0.03], [0.5 * w, 1.6 * br, z_h1]), "handguard",
            "handguard")

    if v["magazine"] != "none":
        ml = d["magazine_length"] * L * (1.0 if v["magazine"] == "box" else 0.85)
        zm = z_rec1 - 0.09 * L
        ang = d["magazine_angle_deg"] * (1.0 if v["magazine"] == "box" else 0.5)
        piv = _about([0, y_bot, zm], _rot("x", -ang))
        hw, hd = 0.4 * w, 0.035 * L
        add(_box([-hw, y_bot - 0.5 * ml, zm - hd], [hw, y_bot + 0.01, zm + hd], piv), "metal",
            "magazine")
        if v["magazine"] == "curved":
            piv2 = piv @ _about([0, y_bot - 0.5 * ml, zm], _rot("x", -25.0))
            add(_box([-0.4 * w, y_bot - ml, zm - 0.035 * L], [0.4 * w, y_bot - 0.45 * ml,
                                                               zm + 0.035 * L], piv2),
                "metal", "magazine_lower")
    if v["scope"]:
        ys = y_top + 0.06 * L
        zs0, zs1 = z_rec0 + 0.01 * L, z_rec1 + 0.05 * L
        rs = 0.022 * L
        add(_cyl([0, ys, zs0 + 0.06 * L], [0, ys, zs1 - 0.06 * L], rs), "scope", "scope_tube")
        add(_frustum([0, ys, zs0], [0, ys, zs0 + 0.07 * L], 1.4 * rs, rs), "scope", "scope_eye")
        add(_frustum([0, ys, zs1], [0, ys, zs1 - 0.08 * L], 1.6 * rs, rs), "scope", "scope_obj")
        for i, z in enumerate((zs0 + 0.1 * L, zs1 - 0.12 * L)):
            add(_box([-0.4 * w, y_top - 0.01, z - 0.02 * L], [0.4 * w, ys, z + 0.02 * L]), "metal",
                f"scope_mount_{i}")


# --------------------------------------------------------------------------------------- sofa


def _sample_sofa(s: _Sampler) -> None:
    s.u("width", 1.4, 2.4)
    s.u("depth", 0.8, 1.0)
    s.u("seat_height", 0.38, 0.48)
    s.u("back_height", 0.3, 0.5)  # above the seat
    s.u("back_thickness", 0.15, 0.28)
    s.u("arm_width", 0.12, 0.25)
    s.u("arm_height", 0.12, 0.28)  # above the seat
    s.u("cushion_thickness", 0.1, 0.18)
    s.u("leg_height", 0.05, 0.14)
    s.u("chaise_length", 0.6, 0.9)  # extra depth of an L-shape, fraction of depth
    s.choice("arms", ["box", "rolled", "none"], p=[3, 2, 1])
    s.choice("shape", ["straight", "l_left", "l_right"], p=[3, 1, 1])
    s.choice("n_cushions", [1, 2, 3])
    s.choice("legs", [True, False])
    s.choice("back_cushions", [True, False])
    s.color("fabric", "fabric")
    if s.rng.uniform() < 0.7:
        s.same_color("cushion", "fabric")
    else:
        s.color("cushion", "fabric")
    s.color("legs", "wood" if s.rng.uniform() < 0.6 else "metal")


def _build_sofa(d: dict, v: dict, add: Add) -> None:
    W, D, H = d["width"], d["depth"], d["seat_height"]
    bt, aw, ah = d["back_thickness"], d["arm_width"], d["arm_height"]
    ct, lh = d["cushion_thickness"], d["leg_height"] if v["legs"] else 0.0
    bh = d["back_height"]
    has_arms = v["arms"] != "none"
    inner = W / 2 - (aw if has_arms else 0.0)
    yb = lh
    zb0, zf = -D / 2, D / 2
    y_c0 = H - ct
    add(_box([-inner, yb, zb0 + 0.02], [inner, y_c0 + 0.01, zf]), "fabric", "base")
    add(_box([-W / 2, yb, zb0], [W / 2, H + bh, zb0 + bt],
             _about([0, yb, zb0], _rot("x", -5.0))), "fabric", "back")
    # seat cushions
    n = v["n_cushions"]
    gap = 0.012
    cw = (2 * inner - (n - 1) * gap) / n
    for i in range(n):
        x0 = -inner + i * (cw + gap)
        add(_box([x0, y_c0, zb0 + bt * 0.8], [x0 + cw, H, zf + 0.02]), "cushion", f"cushion_{i}")
        if v["back_cushions"]:
            add(_box([x0, y_c0 + ct - 0.02, zb0 + 0.6 * bt], [x0 + cw, H + 0.85 * bh,
                                                              zb0 + bt + 0.14],
                     _about([0, H, zb0 + bt], _rot("x", -10.0))), "cushion",
                f"back_cushion_{i}")
    chaise_side = {"l_left": -1, "l_right": 1}.get(v["shape"], 0)
    z_front = {-1: zf, 0: zf, 1: zf}
    if chaise_side:
        ext = d["chaise_length"] * D
        cw_ch = min(0.75, inner)
        xa, xb = sorted([chaise_side * inner, chaise_side * (inner - cw_ch)])
        add(_box([xa, yb, zf - 0.05], [xb, y_c0 + 0.01, zf + ext]), "fabric", "chaise_base")
        add(_box([xa, y_c0, zf - 0.05], [xb, H, zf + ext + 0.02]), "cushion", "chaise_cushion")
        z_front[chaise_side] = zf + ext
    if has_arms:
        for i, sx in enumerate((-1, 1)):
            x0, x1 = sorted([sx * W / 2, sx * inner])
            zfr = z_front[sx] + 0.02
            add(_box([x0, yb, zb0], [x1, H + ah, zfr]), "fabric", f"arm_{i}")
            if v["arms"] == "rolled":
                r = 0.62 * aw
                xc = (x0 + x1) / 2 + sx * 0.1 * aw
                add(_cyl([xc, H + ah, zb0 + 0.02], [xc, H + ah, zfr + 0.02], r), "fabric",
                    f"arm_roll_{i}")
    if v["legs"]:
        k = 0
        for sx in (-1, 1):
            for z in (zb0 + 0.08, z_front[sx] - 0.08):
                x = sx * (W / 2 - 0.08)
                add(_frustum([x, yb + 0.01, z], [x, 0.0, z], 0.04, 0.03), "legs", f"leg_{k}")
                k += 1


# -------------------------------------------------------------------------------------- table


def _sample_table(s: _Sampler) -> None:
    s.u("length", 0.8, 2.0)
    s.u("width_ratio", 0.5, 1.0)
    s.u("height", 0.68, 0.8)
    s.u("coffee_height", 0.35, 0.5)
    s.u("top_thickness", 0.03, 0.07)
    s.u("leg_thickness", 0.05, 0.1)
    s.u("leg_inset", 0.02, 0.12)
    s.u("apron_height", 0.06, 0.12)
    top = s.choice("top", ["rect", "round"], p=[3, 1.5])
    if top == "round":  # trestles only under rectangular tops
        s.choice("base", ["four_legs", "pedestal"], p=[5, 3])
    else:
        s.choice("base", ["four_legs", "pedestal", "trestle"], p=[5, 2, 1.5])
    s.choice("apron", [True, False])
    s.choice("kind", ["dining", "coffee"], p=[3, 1])
    s.choice("shelf", [False, True], p=[3, 1])
    s.color("top", "wood" if s.rng.uniform() < 0.7 else "plastic")
    if s.rng.uniform() < 0.5:
        s.same_color("legs", "top")
    else:
        s.color("legs", "metal" if s.rng.uniform() < 0.5 else "wood")


def _build_table(d: dict, v: dict, add: Add) -> None:
    L = d["length"]
    Wd = L * d["width_ratio"]
    H = d["height"] if v["kind"] == "dining" else d["coffee_height"]
    tt, lt, ins = d["top_thickness"], d["leg_thickness"], d["leg_inset"]
    round_top = v["top"] == "round"
    # feet and rails at least as thick as the enforced minimum, so nothing sinks into the floor
    fh = max(0.06, 0.04 * math.sqrt(L**2 + Wd**2 + H**2))
    if round_top:
        R = 0.5 * min(L, 1.5) * (0.7 + 0.3 * d["width_ratio"])
        add(_cyl([0, H - tt, 0], [0, H, 0], R), "top", "top")
        hx = hz = R * 0.68 - ins * 0.5
    else:
        add(_box([-L / 2, H - tt, -Wd / 2], [L / 2, H, Wd / 2]), "top", "top")
        hx, hz = L / 2 - ins - lt / 2, Wd / 2 - ins - lt / 2
    y_top0 = H - tt + 0.005
    base = v["base"]
    if base == "four_legs":
        corners = [(x, z) for x in _sym(hx) for z in _sym(hz)]
        for k, (x, z) in enumerate(corners):
            add(_cbox([x, y_top0 / 2, z], [lt, y_top0, lt]), "legs", f"leg_{k}")
        if v["apron"]:
            ah = min(d["apron_height"], 0.3 * H)
            a0 = 0.7 * lt
            for i, x in enumerate(_sym(hx)):
                add(_box([x - a0 / 2, y_top0 - ah, -hz], [x + a0 / 2, y_top0, hz]), "legs",
                    f"apron_x_{i}")
            for i, z in enumerate(_sym(hz)):
                add(_box([-hx, y_top0 - ah, z - a0 / 2], [hx, y_top0, z + a0 / 2]), "legs",
                    f"apron_z_{i}")
        if v["shelf"]:
            add(_box([-hx, 0.2 * H, -hz], [hx, 0.2 * H + lt * 0.6, hz]), "top", "shelf")
    elif base == "pedestal":
        n = 2 if (not round_top and L > 1.4) else 1
        xs = [0.0] if n == 1 else list(_sym(L * 0.28))
        for i, x in enumerate(xs):
            rc = max(1.2 * lt, 0.06)
            add(_cyl([x, 0.5 * fh, 0], [x, y_top0, 0], rc), "legs", f"column_{i}")
            if v["shelf"] or round_top:
                fr = min(hz + lt, 0.7 * (Wd / 2 if not round_top else hx))
                add(_frustum([x, 0, 0], [x, fh, 0], fr, 0.8 * fr), "legs", f"foot_{i}")
            else:
                reach = min(Wd / 2 - 0.05, 0.45)
                add(_box([x - lt * 0.6, 0, -reach], [x + lt * 0.6, fh, reach]), "legs",
                    f"foot_{i}_z")
                add(_box([x - reach * 0.6, 0, -lt * 0.6], [x + reach * 0.6, fh, lt * 0.6]),
                    "legs", f"foot_{i}_x")
            add(_box([x - 0.3 * hx / n, y_top0 - fh, -0.3 * hz], [x + 0.3 * hx / n, y_top0,
                                                                       0.3 * hz]),
                "legs", f"bracket_{i}")
    else:
        zr = hz + lt / 2
        for i, x in enumerate(_sym(hx)):
            add(_box([x - lt / 2, 0.05, -0.35 * zr], [x + lt / 2, y_top0, 0.35 * zr]), "legs",
                f"trestle_{i}")
            add(_box([x - lt / 2, 0, -zr], [x + lt / 2, fh, zr]), "legs", f"trestle_foot_{i}")
            add(_box([x - lt / 2, y_top0 - fh, -zr], [x + lt / 2, y_top0, zr]), "legs",
                f"trestle_top_{i}")
        add(_box([-hx, 0.3 * H, -lt / 2], [hx, 0.3 * H + lt, lt / 2]), "legs", "stretcher")


# ---------------------------------------------------------------------------------- telephone


def _sample_telephone(s: _Sampler) -> None:
    s.u("height", 0.12, 0.17)
    s.u("width_ratio", 0.45, 0.56)
    s.u("thickness_ratio", 0.055, 0.1)
    s.u("screen_margin", 0.03, 0.08)  # fraction of width
    s.u("corner_radius", 0.05, 0.16)  # fraction of width
    s.u("open_angle_deg", 150.0, 170.0)
    s.u("desk_size", 0.18, 0.24)
    s.choice("kind", ["smartphone", "keypad", "flip", "desk"], p=[3, 1.5, 1.5, 1.5])
    s.choice("camera_bump", [True, False])
    s.color("body", "plastic")
    s.color("screen", "screen", jitter=0.3)
    s.color("keys", "plastic")
    s.color("camera", "dark")


def _slab(w: float, h: float, t: float, rc: float, y0: float = 0.0) -> trimesh.Trimesh:
    """Rounded-rectangle slab: width ``w`` (x), height ``h`` (y, from ``y0``), thickness ``t``."""
    rc = min(rc, 0.49 * w, 0.49 * h)
    pts = [_circle(np.array([x, y, z]), np.array([0.0, 0.0, 1.0]), rc, 12)
           for x in _sym(w / 2 - rc) for y in (y0 + rc, y0 + h - rc) for z in _sym(t / 2)]
    return _hull(np.concatenate(pts))


def _keypad(add: Add, x0: float, x1: float, y0: float, y1: float, z: float, key_t: float,
            m: np.ndarray | None = None, rows: int = 4, cols: int = 3) -> None:
    """Grid of keys on the plane z (front face), spanning [x0, x1] x [y0, y1]."""
    kw, kh = (x1 - x0) / cols, (y1 - y0) / rows
    for r in range(rows):
        for c in range(cols):
            cx, cy = x0 + (c + 0.5) * kw, y0 + (r + 0.5) * kh
            add(_cbox([cx, cy, z - key_t / 2 + 0.002], [0.72 * kw, 0.7 * kh, key_t], m), "keys",
                f"key_{r}_{c}")


def _build_telephone(d: dict, v: dict, add: Add) -> None:
    H = d["height"]
    W, T = d["width_ratio"] * H, d["thickness_ratio"] * H
    mg = d["screen_margin"] * W
    rc = d["corner_radius"] * W
    kind = v["kind"]
    if kind == "smartphone":
        add(_slab(W, H, T, rc), "body", "body")
        add(_box([-W / 2 + mg, 1.6 * mg, -T / 4], [W / 2 - mg, H - 1.8 * mg, T / 2 + 0.0008]),
            "screen", "screen")
        if v["camera_bump"]:
            add(_box([-W / 2 + mg, H - 0.3 * W - mg, -T / 2 - 0.0015], [-W / 2 + mg + 0.3 * W,
                                                                        H - mg, 0.0]),
                "camera", "camera")
    elif kind == "keypad":
        add(_slab(W, H, T, rc), "body", "body")
        add(_box([-W / 2 + mg, 0.5 * H, -T / 4], [W / 2 - mg, H - 1.5 * mg, T / 2 + 0.0008]),
            "screen", "screen")
        _keypad(add, -W / 2 + mg, W / 2 - mg, 1.2 * mg, 0.46 * H, T / 2 + 0.0015, 0.5 * T)
    elif kind == "flip":
        hh = 0.55 * H
        add(_slab(W, hh, T, rc), "body", "lower_half")
        _keypad(add, -W / 2 + mg, W / 2 - mg, 1.2 * mg, hh - 2 * mg, T / 2 + 0.0015, 0.5 * T)
        hinge_y, hinge_z = hh, -0.0
        add(_cyl([-W / 2, hinge_y, hinge_z], [W / 2, hinge_y, hinge_z], 0.55 * T), "body",
            "hinge")
        # the upper half rotates about the hinge, opening back by (180 - open_angle) degrees
        m = _about([0, hinge_y, hinge_z], _rot("x", -(180.0 - d["open_angle_deg"])))
        upper = _slab(W, hh, T, rc, y0=hinge_y)
        add(_xf(upper, m), "body", "upper_half")
        add(_box([-W / 2 + mg, hinge_y + 1.5 * mg, -T / 4], [W / 2 - mg, hinge_y + hh - 1.5 * mg,
                                                             T / 2 + 0.0008], m),
            "screen", "screen")
    else:
        S = d["desk_size"]
        w, dp = S, 0.95 * S
        hf, hb = 0.22 * S, 0.42 * S
        prof = [(dp / 2, 0.0), (dp / 2, hf), (-dp / 2 + 0.35 * dp, hb), (-dp / 2, hb),
                (-dp / 2, 0.0)]
        add(_prism_zy(prof, -w / 2, w / 2), "body", "base")
        # keypad on the sloped front face
        slope = math.degrees(math.atan2(hb - hf, 0.65 * dp))
        zk, yk = dp / 2 - 0.35 * dp, hf + (hb - hf) * (0.35 / 0.65)
        m = _translate([0, yk, zk]) @ _rot("x", -(90.0 - slope))
        _keypad(add, -0.28 * S, 0.28 * S, -0.2 * S, 0.22 * S, 0.0, 0.06 * S, m)
        # handset lies across the top at the back
        yh, zh, rh = hb + 0.07 * S, -dp / 2 + 0.17 * dp, 0.06 * S
        add(_capsule([-0.32 * S, yh, zh], [0.32 * S, yh, zh], rh), "keys", "handset")
        for i, x in enumerate(_sym(0.5 * S)):
            add(_ellipsoid([x, yh - 0.02 * S, zh], [0.13 * S, 0.1 * S, 0.12 * S], subdiv=1),
                "keys", f"handset_cup_{i}")
            add(_box([x - 0.08 * S, hb - 0.02 * S, zh - 0.1 * S], [x + 0.08 * S, yh,
                                                                   zh + 0.1 * S]),
                "body", f"cradle_{i}")


# ------------------------------------------------------------------------------------- vessel


def _sample_vessel(s: _Sampler) -> None:
    s.u("length", 0.9, 1.1)
    s.u("beam", 0.22, 0.34)  # fraction of length
    s.u("hull_depth", 0.08, 0.14)  # fraction of length
    s.u("bow_length", 0.25, 0.45)  # tapered part, fraction of length
    s.u("keel_width", 0.2, 0.5)  # bottom width / beam
    s.u("sheer", 0.0, 0.05)  # bow rise, fraction of length
    s.u("cabin_length", 0.18, 0.35)  # fraction of length
    s.u("cabin_height", 0.05, 0.1)  # fraction of length
    s.u("mast_height", 0.8, 1.25)  # fraction of length
    kind = s.choice("kind", ["sailboat", "motorboat", "ship"])
    s.choice("count", [1, 2], p=[2, 1] if kind != "ship" else [1, 1])
    s.choice("stern", ["transom", "round"], p=[3, 1])
    s.color("hull", "hull")
    s.color("deck", "wood")
    s.color("cabin", "aircraft")
    s.color("sail", "sail")
    s.color("mast", "metal")
    s.color("window", "glass")
    s.color("funnel", "accent")


def _build_vessel(d: dict, v: dict, add: Add) -> None:
    L = d["length"]
    B = d["beam"] * L
    Dh = d["hull_depth"] * L
    bow = d["bow_length"] * L
    kind = v["kind"]
    if kind == "ship":
        B *= 0.75
        Dh *= 1.2
    sheer = d["sheer"] * L
    z_wide = L / 2 - bow
    stern_w = 0.85 if v["stern"] == "transom" else 0.45

    def half_width(z: float) -> float:
        if z >= z_wide:
            u = (z - z_wide) / bow
            return max(B / 2 * (1 - u**1.6), 0.004 * L)
        u = (z_wide - z) / (z_wide + L / 2)
        return B / 2 * (1 - (1 - stern_w) * u**2)

    zs = np.linspace(-L / 2, L / 2, 17)
    deck_y = [Dh + sheer * ((z + L / 2) / L) ** 2 for z in zs]
    deck = [[sx * half_width(z), y, z] for z, y in zip(zs, deck_y, strict=True)
            for sx in (-1, 1)]
    kz = np.linspace(-L / 2 + 0.06 * L, L / 2 - 0.7 * bow, 9)
    keel = [[sx * half_width(z) * d["keel_width"], 0.0, z] for z in kz for sx in (-1, 1)]
    add(_hull(deck + keel), "hull", "hull")
    inner = [[0.93 * x, y + 0.004 * L, z * 0.97] for x, y, z in deck]
    inner += [[0.93 * x, y - 0.05 * L, z * 0.97] for x, y, z in deck]
    add(_hull(inner), "deck", "deck")

    yd = Dh
    if kind == "sailboat":
        cl, chh = d["cabin_length"] * L * 0.8, d["cabin_height"] * L * 0.7
        zc0 = -0.28 * L
        cw = 0.55 * B
        prof = [(zc0, yd - 0.02 * L), (zc0 + cl, yd - 0.02 * L), (zc0 + cl - 0.3 * chh, yd + chh),
                (zc0 + 0.1 * cl, yd + chh)]
        add(_prism_zy(prof, -cw / 2, cw / 2), "cabin", "cabin")
        mh = d["mast_height"] * L
        masts = [0.08 * L] if v["count"] == 1 else [0.12 * L, -0.22 * L]
        for i, zm in enumerate(masts):
            h = mh if i == 0 else 0.7 * mh
            rm = 0.018 * L
            add(_cyl([0, yd - 0.03 * L, zm], [0, yd + h, zm], rm), "mast", f"mast_{i}")
            boom = (0.42 if i == 0 else 0.3) * L
            yb = yd + 0.1 * L
            add(_cyl([0, yb, zm], [0, yb, zm - boom], 0.7 * rm), "mast", f"boom_{i}")
            st = 0.02 * L
            sail = [(zm - rm * 0.5, yb + 0.01), (zm - rm * 0.5, yd + 0.96 * h),
                    (zm - boom + 0.01, yb + 0.01)]
            add(_prism_zy(sail, -st / 2, st / 2), "sail", f"mainsail_{i}")
            if i == 0:
                zbow = L / 2 - 0.06 * L
                jib = [(zm + rm * 0.5, yd + 0.85 * h), (zbow, yd + 0.03 * L),
                       (zm + rm * 0.5, yd + 0.04 * L)]
                add(_prism_zy(jib, -st / 2, st / 2), "sail", "jib")
    elif kind == "motorboat":
        cl, chh = d["cabin_length"] * L, d["cabin_height"] * L
        zc0 = -0.1 * L
        cw = 0.75 * B
        prof = [(zc0, yd - 0.02 * L), (zc0 + cl, yd - 0.02 * L), (zc0 + 0.5 * cl, yd + chh),
                (zc0, yd + chh)]
        add(_prism_zy(prof, -cw / 2, cw / 2), "cabin", "cabin")
        ya, yb = yd + 0.2 * chh, yd + 0.85 * chh
        za, zb = _edge_z(prof, ya, 1), _edge_z(prof, yb, 1)
        band = [(za + 0.004, ya), (zb + 0.004, yb), (zb - 0.05 * L, yb), (za - 0.05 * L, ya)]
        add(_prism_zy(band, -cw / 2 + 0.02 * L, cw / 2 - 0.02 * L), "window", "windshield")
        zr = zc0 + 0.03 * L
        side = [(zb - 0.02 * L, yb), (za - 0.02 * L, ya), (zr, ya), (zr, yb)]
        add(_prism_zy(side, -cw / 2 - 0.003, cw / 2 + 0.003), "window", "side_windows")
        zt = -L / 2
        for i, x in enumerate([0.0] if v["count"] == 1 else list(_sym(0.12 * B + 0.03 * L))):
            add(_box([x - 0.035 * L, yd - 0.08 * L, zt - 0.07 * L],
                     [x + 0.035 * L, yd + 0.06 * L, zt + 0.02 * L]), "mast", f"outboard_{i}")
    else:
        zc0 = -L / 2 + 0.08 * L
        cl = d["cabin_length"] * L * 1.1
        chh = d["cabin_height"] * L
        cw = 0.85 * B
        y = yd - 0.02 * L
        for t in range(3):
            w = cw * (1 - 0.12 * t)
            length = cl * (1 - 0.22 * t)
            add(_box([-w / 2, y, zc0 + 0.04 * L * t], [w / 2, y + chh + 0.02 * L,
                                                       zc0 + 0.04 * L * t + length]),
                "cabin", f"deck_house_{t}")
            y += chh
        z0t, z1t = zc0 + 0.08 * L, zc0 + 0.08 * L + cl * (1 - 0.44)  # top tier
        add(_box([-cw * 0.38, y - 0.65 * chh, z1t - 0.1 * L], [cw * 0.38, y - 0.2 * chh,
                                                                z1t + 0.004]),
            "window", "bridge_windows")
        # funnels rise from the tier below the top one, through the top tier
        for i in range(v["count"]):
            z = z0t + 0.045 * L + 0.085 * L * i
            add(_frustum([0, y - chh - 0.01 * L, z], [0, y + 0.09 * L, z - 0.01 * L], 0.04 * L,
                         0.034 * L), "funnel", f"funnel_{i}")
        add(_cyl([0, y - 0.02 * L, zc0 + 0.6 * cl], [0, y + 0.18 * L, zc0 + 0.6 * cl], 0.012 * L),
            "mast", "mast")
        # cargo boxes on the foredeck
        zc = zc0 + cl + 0.05 * L
        while zc + 0.1 * L < L / 2 - 0.45 * bow:
            add(_box([-0.3 * B, yd - 0.02 * L, zc], [0.3 * B, yd + 0.05 * L, zc + 0.09 * L]),
                "funnel", f"cargo_{int(round((zc - zc0) * 100))}")
            zc += 0.1 * L


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

_FAMILIES: dict[str, tuple[Callable[[_Sampler], None], Callable[[dict, dict, Add], None]]] = {
    "airplane": (_sample_airplane, _build_airplane),
    "bench": (_sample_bench, _build_bench),
    "cabinet": (_sample_cabinet, _build_cabinet),
    "car": (_sample_car, _build_car),
    "chair": (_sample_chair, _build_chair),
    "display": (_sample_display, _build_display),
    "lamp": (_sample_lamp, _build_lamp),
    "loudspeaker": (_sample_loudspeaker, _build_loudspeaker),
    "rifle": (_sample_rifle, _build_rifle),
    "sofa": (_sample_sofa, _build_sofa),
    "table": (_sample_table, _build_table),
    "telephone": (_sample_telephone, _build_telephone),
    "vessel": (_sample_vessel, _build_vessel),
}


def _family(synset: str) -> str:
    """Class name for a synset id (a class name is accepted too)."""
    if synset in CLASSES:
        return CLASSES[synset]
    if synset in NAME_TO_SYNSET:
        return synset
    raise KeyError(f"unknown synset {synset!r}; known: {sorted(CLASSES)}")


def sample_params(synset: str, rng: np.random.Generator) -> dict:
    """Draw the parameters of one object of a class.

    Args:
        synset: ShapeNet synset id (e.g. ``"03001627"``) or class name (``"chair"``).
        rng: random generator; the same seed gives the same parameters.

    Returns:
        JSON-serialisable dict ``{"synset": str, "variants": {name: str | bool | int},
        "dims": {name: float}, "colors": {name: [r, g, b]}}``: ``dims`` are continuous shape
        parameters (object units, degrees or fractions, as their names say), ``variants`` are the
        structural choices and ``colors`` are linear RGB in [0, 1].
    """
    name = _family(synset)
    s = _Sampler(NAME_TO_SYNSET[name], rng)
    _FAMILIES[name][0](s)
    return s.params


def object_diagonal(parts: Sequence[Part]) -> float:
    """Length of the diagonal of the axis-aligned bounding box of all parts (object units)."""
    bounds = np.array([p.mesh.bounds for p in parts])
    return float(np.linalg.norm(bounds[:, 1].max(axis=0) - bounds[:, 0].min(axis=0)))


def part_min_extent(mesh: trimesh.Trimesh) -> float:
    """Smallest extent of the mesh's minimum-volume oriented bounding box (object units)."""
    return float(np.min(mesh.bounding_box_oriented.primitive.extents))


def _surely_thick(mesh: trimesh.Trimesh, tmin: float) -> bool:
    """Cheap sufficient test that every OBB extent of ``mesh`` is at least ``tmin``.

    A ball of radius r around the hull's centre of mass fits in the convex hull (r is the
    distance to the nearest hull face plane), so the hull, and any box around it, is at least
    2 r wide in every direction.
    """
    hull = mesh.convex_hull
    dist = np.einsum("ij,ij->i", hull.face_normals, hull.triangles[:, 0] - hull.center_mass)
    return bool(2.0 * dist.min() >= tmin)


def _enforce_min_thickness(parts: list[Part], frac: float = MIN_THICKNESS_FRAC) -> None:
    """Scale every part that is thinner than ``frac`` x object diagonal along its thin OBB axes.

    The scaling is about the part's own OBB centre, so parts only grow and stay connected.
    """
    for _ in range(3):  # growing parts can grow the diagonal a little: later passes settle it
        tmin = frac * object_diagonal(parts)
        changed = False
        for p in parts:
            if _surely_thick(p.mesh, tmin):
                continue
            obb = p.mesh.bounding_box_oriented.primitive
            ext = np.asarray(obb.extents, dtype=float)
            if ext.min() >= tmin:
                continue
            scale = np.where(ext < tmin, tmin / np.maximum(ext, 1e-9), 1.0)
            frame = np.asarray(obb.transform, dtype=float)
            p.mesh.apply_transform(frame @ np.diag([*scale, 1.0]) @ np.linalg.inv(frame))
            log.debug("thickened part %s by %s", p.name, np.round(scale, 3))
            changed = True
        if not changed:
            break


def build_parts(synset: str, params: dict) -> list[Part]:
    """Build the parts of one object, deterministically from ``params``.

    Args:
        synset: ShapeNet synset id or class name; must match ``params["synset"]``'s class.
        params: as returned by ``sample_params`` (possibly after a JSON round trip).

    Returns:
        Parts in the ShapeNet frame (+y up, front +z, arbitrary units, not normalised); every
        mesh is watertight and at least ``MIN_THICKNESS_FRAC`` x the object's bounding-box
        diagonal thick.
    """
    name = _family(synset)
    if _family(params.get("synset", synset)) != name:
        raise ValueError(f"params are for {params['synset']}, not {synset}")
    colors = {k: (float(c[0]), float(c[1]), float(c[2])) for k, c in params["colors"].items()}
    parts: list[Part] = []

    def add(mesh: trimesh.Trimesh, color_key: str, part_name: str) -> None:
        parts.append(Part(mesh=mesh, color=colors[color_key], name=part_name))

    _FAMILIES[name][1](dict(params["dims"]), dict(params["variants"]), add)
    _enforce_min_thickness(parts)
    return parts


def make_object(synset: str, rng: np.random.Generator) -> tuple[list[Part], dict]:
    """Sample parameters and build the object: ``build_parts(synset, sample_params(...))``.

    Returns:
        ``(parts, params)`` with parts as in ``build_parts`` and params as in ``sample_params``.
    """
    params = sample_params(synset, rng)
    return build_parts(synset, params), params


# ---------------------------------------------------------------------------------------------
# Gallery
# ---------------------------------------------------------------------------------------------


def render_preview(
    parts: Sequence[Part], azim_deg: float = 35.0, elev_deg: float = 20.0, size: int = 192
) -> np.ndarray:
    """Render a shaded preview of the parts with the dataset renderer (galleries, eyeballing).

    Args:
        parts: the object's parts (ShapeNet frame, +y up).
        azim_deg: camera azimuth about +y; 0 looks at the front (+z), positive turns to +x.
        elev_deg: camera elevation above the horizon.
        size: image side in pixels.

    Returns:
        (size, size, 3) float sRGB image in [0, 1] on a white background.
    """
    from data import cameras
    from data.build import normalise_to_world
    from data.io import composite_on_white
    from data.render import Scene, render

    meshes = normalise_to_world([p.mesh for p in parts])
    colors = [np.clip(np.asarray(p.color), 0.0, 1.0) ** (1 / 2.2) for p in parts]
    # the world is z-up with the object's front (+z here) facing world -y: azimuth 0 -> -90
    E = cameras.look_at(azim_deg - 90.0, elev_deg, cameras.DISTANCE)
    rgba, _ = render(Scene.from_parts(meshes, colors), cameras.intrinsics(size), E, size, size)
    return composite_on_white(rgba)


def render_gallery(path: str, per_class: int = 2, seed: int = 0, per_row: int = 3) -> None:
    """Render ``per_class`` random objects of every class into a PNG grid at ``path``.

    ``per_row`` classes share a grid row; each tile is titled with the class and its variants.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(CLASSES.values())
    cols = per_row * per_class
    rows = math.ceil(len(names) / per_row)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ci, name in enumerate(names):
        for j in range(per_class):
            rng = np.random.default_rng([seed, ci, j])
            parts, params = make_object(NAME_TO_SYNSET[name], rng)
            ax = axes[ci // per_row, (ci % per_row) * per_class + j]
            ax.imshow(render_preview(parts, azim_deg=35.0 - 75.0 * (j % 2), elev_deg=20.0))
            variants = ", ".join(str(x) for x in params["variants"].values())
            ax.set_title(f"{name}\n{variants}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    log.info("wrote %s", path)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m data.shapes --gallery docs/shapes_gallery.png``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", required=True, help="output PNG path")
    ap.add_argument("--per-class", type=int, default=2, help="examples per class")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    render_gallery(args.gallery, per_class=args.per_class, seed=args.seed)


if __name__ == "__main__":
    main()
