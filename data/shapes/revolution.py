"""Surfaces of revolution: vases, bottles, bowls, cups (open, with a cavity and a wall), spinning
tops and knobs, from a smooth random profile; cups may get a handle.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import numpy as np

from data.shapes import implicit
from data.shapes.primitives import Add, _lathe_y
from data.shapes.sampler import Sampler
from data.shapes.texture import sample_pattern

#: Control points of the profile (radius at evenly spaced heights).
N_CONTROL = 6


def sample(s: Sampler) -> None:
    s.u("height", 0.4, 1.4)
    for i in range(N_CONTROL):
        s.u(f"radius_{i}", 0.08, 0.5)
    kind = s.choice("kind", ["solid", "open"], p=[1, 1])
    s.u("wall", 0.04, 0.09)
    s.u("floor", 0.05, 0.2)
    s.choice("handle", [False, True], p=[2, 1] if kind == "open" else [1, 0])
    s.u("handle_size", 0.15, 0.3)
    s.any_color("body")
    s.any_color("handle")
    sample_pattern(s)


def _outer(d: dict, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Outer radius (n,) at heights (n,): a smooth curve through the control radii."""
    h = d["height"]
    yc = np.linspace(0.0, h, N_CONTROL)
    rc = np.array([d[f"radius_{i}"] for i in range(N_CONTROL)])
    y = np.linspace(0.0, h, n)
    # smooth: a cubic through the control points, kept positive
    r = np.clip(np.polyval(np.polyfit(yc, rc, 3), y), 0.06, 0.55)
    return r, y


def build(d: dict, v: dict, add: Add) -> None:
    r, y = _outer(d)
    h = d["height"]
    if v["kind"] == "solid":
        profile = [(0.0, 0.0), *zip(r, y, strict=True), (0.0, h)]
    else:  # open at the top: the cavity follows the outside, one wall thickness in
        t = min(d["wall"], 0.4 * float(r.min()))
        fl = min(d["floor"], 0.3 * h)
        inner = [(ri - t, yi) for ri, yi in zip(r[::-1], y[::-1], strict=True) if yi > fl]
        profile = [(0.0, 0.0), *zip(r, y, strict=True), *inner, (0.0, fl)]
    add(_lathe_y(profile), "body", "body")
    if v["handle"]:
        hs = d["handle_size"] * h
        yi = int(np.argmin(np.abs(y - 0.55 * h)))
        f = implicit.local(implicit.torus(hs, max(0.3 * hs, 0.035)), [float(r[yi]), 0.55 * h, 0],
                           implicit.rotation([90.0, 0.0, 0.0]))
        # the inner half of the ring is inside the body: only the outer part shows
        m = hs * 1.4
        add(implicit.mesh_from_field(f, [r[yi] - m, 0.55 * h - m, -m],
                                     [r[yi] + m, 0.55 * h + m, m], res=40),
            "handle", "handle")
