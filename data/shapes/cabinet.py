"""Cabinets: a body and top on a plinth, legs or nothing, with one or two doors, drawers or both,
and bar or knob handles.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes.primitives import (
    Add,
    _box,
    _cbox,
    _cyl,
    _sym,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
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


def build(d: dict, v: dict, add: Add) -> None:
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
