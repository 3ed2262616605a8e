"""Loudspeakers: tower, bookshelf or subwoofer boxes with their drivers, an optional bass-reflex
port and an optional plinth.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes.primitives import (
    Add,
    _box,
    _cyl,
    _ellipsoid,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
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


def build(d: dict, v: dict, add: Add) -> None:
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
