"""Make the README's data picture: a few rendered views of one model per class and its voxels.

Usage::

    python scripts/make_data_figure.py --root datasets/small --out docs/data_examples.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data import io  # noqa: E402
from data.layout import DataLayout, class_name  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path("datasets/small"))
    p.add_argument("--out", type=Path, default=Path("docs/data_examples.png"))
    p.add_argument("--classes", type=int, default=6, help="how many classes (rows)")
    p.add_argument("--views", type=int, nargs="+", default=[0, 1, 2])
    a = p.parse_args()
    L = DataLayout(a.root)
    synsets = L.synsets()
    synsets = [synsets[i] for i in np.linspace(0, len(synsets) - 1, a.classes).round().astype(int)]
    ncol = len(a.views) + 2
    fig = plt.figure(figsize=(2.2 * ncol, 2.2 * len(synsets)))
    for r, s in enumerate(synsets):
        m = L.models(s)[0]
        for c, v in enumerate(a.views):
            ax = fig.add_subplot(len(synsets), ncol, r * ncol + c + 1)
            ax.imshow(io.read_render(L.render_path(s, m, v)))
            ax.set_axis_off()
            if c == 0:
                ax.set_title(f"{class_name(s)}: view {v}", fontsize=8, loc="left")
        ax = fig.add_subplot(len(synsets), ncol, r * ncol + len(a.views) + 1)
        depth = io.read_depth(L.depth_path(s, m, a.views[0]))
        ax.imshow(np.where(depth < 10, depth, np.nan), cmap="turbo")
        ax.set_axis_off()
        if r == 0:
            ax.set_title("depth (view 0)", fontsize=8)
        grid = io.read_voxels(L.voxel_path(s, m, 32)).astype(bool)
        ax = fig.add_subplot(len(synsets), ncol, (r + 1) * ncol, projection="3d")
        ax.voxels(grid, facecolors="#5a8fd0", edgecolor="#2a4f80", linewidth=0.1)
        ax.view_init(elev=20, azim=-60)
        ax.set_axis_off()
        if r == 0:
            ax.set_title("voxels 32^3", fontsize=8)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=80)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
