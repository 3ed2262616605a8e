"""Parameter sampling for the shape families: colour palettes and the recording ``Sampler``."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np

from data.shapes.primitives import RGB


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


class Sampler:
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

    def any_color(self, name: str, saturation: tuple[float, float] = (0.0, 1.0),
                  value: tuple[float, float] = (0.15, 1.0)) -> list[float]:
        """Colour of any hue (uniform HSV within the given saturation and value ranges, sRGB),
        as linear RGB (3,)."""
        h = float(self.rng.uniform())
        rgb = colorsys.hsv_to_rgb(h, float(self.rng.uniform(*saturation)),
                                  float(self.rng.uniform(*value)))
        self.params["colors"][name] = list(_srgb_to_linear(rgb))
        return self.params["colors"][name]

    def same_color(self, name: str, other: str) -> None:
        """Reuse the colour already drawn for ``other``."""
        self.params["colors"][name] = list(self.params["colors"][other])

