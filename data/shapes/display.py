"""Displays: a flat panel, a panel with a rear box or a CRT, on a rectangular or round foot or on
two feet.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes.primitives import (
    Add,
    _about,
    _box,
    _frustum,
    _hull,
    _rot,
    _sym,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
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


def build(d: dict, v: dict, add: Add) -> None:
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
