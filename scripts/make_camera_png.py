"""Draw docs/camera.png: the world frame, a look-at camera and its image axes."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from geometry.camera import look_at

fig = plt.figure(figsize=(13, 6))
ax = fig.add_subplot(1, 2, 1, projection="3d")
# unit cube
r = [-0.5, 0.5]
for s in r:
    for t in r:
        ax.plot(r, [s, s], [t, t], color="0.6", lw=0.8)
        ax.plot([s, s], r, [t, t], color="0.6", lw=0.8)
        ax.plot([s, s], [t, t], r, color="0.6", lw=0.8)
for vec, col, lab in [
    ((1, 0, 0), "r", "x (grid i)"),
    ((0, 1, 0), "g", "y (grid j)"),
    ((0, 0, 1), "b", "z up (grid k)"),
]:
    ax.quiver(0, 0, 0, *np.array(vec) * 0.9, color=col, lw=2, arrow_length_ratio=0.1)
    ax.text(*(np.array(vec) * 1.0), lab, color=col)
E = look_at(30.0, 25.0, 2.0)
R, t = E[:3, :3], E[:3, 3]
C = -R.T @ t
ax.scatter(*C, color="k", s=30)
ax.text(*(C + [0, 0, 0.12]), "camera C = -R^T t\n(az 30, el 25, d 2)", fontsize=8)
for row, col, lab in [(0, "r", "x_cam right"), (1, "g", "y_cam down"), (2, "b", "z_cam forward")]:
    ax.quiver(*C, *(R[row] * 0.5), color=col, lw=1.5, ls="--", arrow_length_ratio=0.15)
    ax.text(*(C + R[row] * 0.6), lab, color=col, fontsize=8)
ax.plot(*np.stack([C, np.zeros(3)]).T, color="k", lw=0.6, ls=":")
ax.set_xlim(-1, 2)
ax.set_ylim(-0.5, 2)
ax.set_zlim(-0.5, 1.5)
ax.set_box_aspect((3, 2.5, 2))
ax.set_title(
    "World (z-up, Blender frame), object cube [-0.5, 0.5]^3,\n"
    "grid[x, y, z]; extrinsic [R|t]: x_cam = R x_world + t",
    fontsize=10,
)
ax.view_init(elev=18, azim=-60)

ax2 = fig.add_subplot(1, 2, 2)
n = 6
for v in range(n):
    for u in range(n):
        ax2.add_patch(Rectangle((u, v), 1, 1, fill=False, ec="0.7"))
        ax2.plot(u + 0.5, v + 0.5, ".", color="tab:blue", ms=4)
        ax2.plot(u, v, "x", color="tab:red", ms=4)
ax2.add_patch(Rectangle((2, 1), 1, 1, fc="tab:blue", alpha=0.2))
ax2.annotate(
    "pixel (row v=1, col u=2)\ncovers [2,3) x [1,2), centre (2.5, 1.5)\n"
    "ray projection + visual hull use centres (.)",
    xy=(2.5, 1.5),
    xytext=(3.3, 0.3),
    fontsize=8,
    arrowprops=dict(arrowstyle="->"),
)
ax2.annotate(
    "release unprojection samples feature maps at\nu' = u * w/W (x): integers treated as "
    "sample points\n(half-pixel quirk, kept for checkpoints)",
    xy=(4, 4),
    xytext=(0.2, 6.6),
    fontsize=8,
    arrowprops=dict(arrowstyle="->"),
)
ax2.arrow(0, -0.35, 2.0, 0, head_width=0.12, color="k", clip_on=False)
ax2.text(2.15, -0.42, "u (column, x_cam)", fontsize=9)
ax2.arrow(-0.35, 0, 0, 2.0, head_width=0.12, color="k", clip_on=False)
ax2.text(-0.9, 2.3, "v (row,\ny_cam)", fontsize=9)
ax2.set_xlim(-1, n + 0.3)
ax2.set_ylim(n + 1.5, -0.8)
ax2.set_aspect("equal")
ax2.axis("off")
ax2.set_title(
    "Image (OpenCV): u = fx X/Z + cx, v = fy Y/Z + cy\n"
    "K = [[420,0,112],[0,420,112],[0,0,1]] for 224x224; depth = Z",
    fontsize=10,
)
fig.tight_layout()
fig.savefig(Path(__file__).resolve().parents[1] / "docs" / "camera.png", dpi=110)
