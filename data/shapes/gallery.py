"""A gallery of the shape families: ``python -m data.shapes --gallery docs/shapes_gallery.png``."""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Sequence

import numpy as np

from data.layout import CLASSES
from data.shapes.preview import render_preview
from data.shapes.registry import EXTRA_FAMILIES, NAME_TO_SYNSET, make_object

log = logging.getLogger(__name__)


def render_gallery(path: str, per_class: int = 2, seed: int = 0, per_row: int = 3,
                   names: Sequence[str] | None = None) -> None:
    """Render ``per_class`` random objects of every class into a PNG grid at ``path``.

    ``names``: the families shown (default the 13 ShapeNet classes; ``EXTRA_FAMILIES`` for the
    generic ones).
    ``per_row`` classes share a grid row; each tile is titled with the class and its variants.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(names or CLASSES.values())
    cols = per_row * per_class
    rows = math.ceil(len(names) / per_row)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ci, name in enumerate(names):
        for j in range(per_class):
            rng = np.random.default_rng([seed, ci, j])
            parts, params = make_object(NAME_TO_SYNSET[name], rng)
            ax = axes[ci // per_row, (ci % per_row) * per_class + j]
            ax.imshow(render_preview(parts, azim_deg=35.0 - 75.0 * (j % 2), elev_deg=20.0))
            variants = ", ".join(str(x) for x in params["variants"].values())[:48]
            ax.set_title(f"{name}\n{variants}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    log.info("wrote %s", path)



def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m data.shapes --gallery docs/shapes_gallery.png``."""
    ap = argparse.ArgumentParser(
        prog="python -m data.shapes",
        description="Parametric, ShapeNet-like object families assembled from watertight mesh "
                    "primitives.")
    ap.add_argument("--gallery", required=True, help="output PNG path")
    ap.add_argument("--per-class", type=int, default=2, help="examples per class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra", action="store_true",
                    help="the six generic families instead of the 13 ShapeNet classes")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    render_gallery(args.gallery, per_class=args.per_class, seed=args.seed,
                   names=list(EXTRA_FAMILIES) if args.extra else None)
