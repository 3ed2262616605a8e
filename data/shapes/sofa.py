"""Sofas: straight or L-shaped, box, rolled or no arms, seat and back cushions, optional legs.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes.primitives import (
    Add,
    _about,
    _box,
    _cyl,
    _frustum,
    _rot,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
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


def build(d: dict, v: dict, add: Add) -> None:
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
