"""Benches: a plain or slatted seat on four legs, side panels or trestles, with an optional back
(plain or slatted) and optional armrests.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes.primitives import (
    Add,
    _about,
    _box,
    _cbox,
    _rot,
    _sym,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
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


def build(d: dict, v: dict, add: Add) -> None:
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
