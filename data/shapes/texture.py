"""Colour patterns ("textures") on an object's parts: stripes, checks, smooth noise, a gradient.

The pattern is drawn with the other parameters (``sample_pattern``), so it replays from
``params.json``; ``apply_pattern`` turns it into per-face colours of every part, computed from
face centroids in the object frame scaled by the object's bounding-box diagonal, so the pattern
is continuous across parts and independent of the object's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data.shapes.primitives import Part
from data.shapes.sampler import Sampler

#: Pattern kinds (``variants["pattern"]``).
PATTERNS = ("plain", "stripes", "checker", "noise", "gradient")


def sample_pattern(s: Sampler, p: Sequence[float] = (3, 2, 1.5, 1.5, 1.5)) -> None:
    """Draw a pattern: its kind, frequency (cycles per object diagonal), direction and
    second colour (``colors["pattern"]``)."""
    s.choice("pattern", list(PATTERNS), p=p)
    s.u("pattern_freq", 1.5, 6.0)
    s.u("pattern_azimuth", 0.0, 180.0)
    s.u("pattern_elevation", -60.0, 60.0)
    s.any_color("pattern")


def _direction(az_deg: float, el_deg: float) -> np.ndarray:
    az, el = np.radians(az_deg), np.radians(el_deg)
    return np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])


def pattern_weight(points: np.ndarray, kind: str, freq: float, az_deg: float,
                   el_deg: float) -> np.ndarray:
    """Weight (P,) in [0, 1] of the second colour at ``points`` (P, 3) (object units divided by
    the object's diagonal)."""
    d = _direction(az_deg, el_deg)
    t = points @ d
    if kind == "plain":
        return np.zeros(len(points))
    if kind == "stripes":
        return (np.floor(2 * freq * t) % 2).astype(float)
    if kind == "checker":
        e = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
        e /= np.linalg.norm(e)
        u = points @ e
        return ((np.floor(2 * freq * t) + np.floor(2 * freq * u)) % 2).astype(float)
    if kind == "noise":  # smooth value: three waves in fixed, different directions
        dirs = [d, _direction(az_deg + 67.0, -el_deg + 23.0), _direction(az_deg + 141.0, 37.0)]
        v = sum(np.sin(2 * np.pi * freq * (points @ k) * (1 + 0.3 * i) + i)
                for i, k in enumerate(dirs))
        return np.clip(0.5 + 0.35 * v, 0.0, 1.0)
    if kind == "gradient":
        return np.clip(t + 0.5, 0.0, 1.0)
    raise ValueError(f"unknown pattern {kind!r}; known: {PATTERNS}")


def apply_pattern(parts: list[Part], params: dict) -> None:
    """Set ``face_colors`` of every part from the pattern in ``params`` (no-op when none or
    ``"plain"``): a blend of the part's colour and ``colors["pattern"]``."""
    kind = params["variants"].get("pattern", "plain")
    if kind == "plain":
        return
    d = params["dims"]
    bounds = np.array([p.mesh.bounds for p in parts])
    lo, hi = bounds[:, 0].min(axis=0), bounds[:, 1].max(axis=0)
    centre, diag = (lo + hi) / 2, float(np.linalg.norm(hi - lo))
    second = np.asarray(params["colors"]["pattern"], dtype=float)
    for part in parts:
        pts = (part.mesh.triangles_center - centre) / diag
        w = pattern_weight(pts, kind, d["pattern_freq"], d["pattern_azimuth"],
                           d["pattern_elevation"])[:, None]
        part.face_colors = (1 - w) * np.asarray(part.color, dtype=float) + w * second
