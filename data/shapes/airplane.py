"""Airplanes: a lathed fuselage with a cockpit, swept and tapered wings (low, mid or high), a fin
and stabilisers (conventional or T-tail), and no, two or four wing engines or two rear engines.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import math

import numpy as np
import trimesh

from data.shapes.primitives import (
    SECTIONS,
    Add,
    _box,
    _ellipsoid,
    _finish,
    _frustum,
    _hull,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
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


def build(d: dict, v: dict, add: Add) -> None:
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
