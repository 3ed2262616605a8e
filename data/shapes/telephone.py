"""Telephones: smartphones, keypad phones, flip phones and desk phones.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import math

import numpy as np
import trimesh

from data.shapes.primitives import (
    Add,
    _about,
    _box,
    _capsule,
    _cbox,
    _circle,
    _cyl,
    _ellipsoid,
    _hull,
    _prism_zy,
    _rot,
    _sym,
    _translate,
    _xf,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
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


def build(d: dict, v: dict, add: Add) -> None:
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
