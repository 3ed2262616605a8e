"""Interactive plotly figures: occupancy surfaces and coloured point clouds in 3D.

Each figure function returns None when plotly is not installed (the demos then fall back to the
static pictures of :mod:`vis.figures`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vis.meshes import IOU_THRESH, occupancy_mesh, subsample_points


def setup_plotly(renderer: str | None = None) -> bool:
    """Whether plotly is importable; optionally select its renderer.

    Args:
        renderer: a ``plotly.io.renderers`` name (e.g. "notebook" embeds plotly.js in the
            notebook, so exported HTML works offline; "notebook_connected" loads it from a
            CDN); None keeps plotly's choice for the running front end.
    """
    try:
        import plotly.io as pio
    except ImportError:
        return False
    if renderer:
        pio.renderers.default = renderer
    return True


def _scene(**kw: Any) -> dict[str, Any]:
    ax = {"range": [-0.55, 0.55], "showbackground": False, "showticklabels": False,
          "title": {"text": ""}, "gridcolor": "#ddd", "zerolinecolor": "#bbb"}
    return {"xaxis": ax, "yaxis": ax, "zaxis": ax, "aspectmode": "cube",
            "camera": {"eye": {"x": 1.2, "y": -1.45, "z": 0.9}}, **kw}


def occupancy_figure(probs: np.ndarray, voxels: np.ndarray | None = None,
                     thresh: float = IOU_THRESH, title: str = "",
                     ious: Sequence[float] | None = None) -> Any:
    """Interactive 3D surfaces: the prediction (buttons for 1..T views) beside the truth.

    Args:
        probs: (T, N, N, N) probabilities, world [x, y, z].
        voxels: (N, N, N) true occupancy, or None.
        thresh: iso-level.
        title: figure title.
        ious: (T,) IoU in [0, 1] per number of views, shown in the panel titles (e.g.
            :func:`demo.tables.voxel_iou_by_views`), or None.

    Returns:
        A ``plotly.graph_objects.Figure``, or None when plotly is not installed.
    """
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return None
    t = len(probs)

    def label(k: int) -> str:
        s = f"prediction after {k + 1} view{'s' if k else ''}"
        return s + (f" (IoU {100 * ious[k]:.1f})" if ious is not None else "")

    cols = 2 if voxels is not None else 1
    fig = make_subplots(rows=1, cols=cols, specs=[[{"type": "scene"}] * cols],
                        subplot_titles=[label(t - 1)] + (["ground truth"] if cols == 2 else []),
                        horizontal_spacing=0.02)
    mesh_kw = {"flatshading": True, "lighting": {"ambient": 0.45, "diffuse": 0.8},
               "hoverinfo": "skip"}
    for k in range(t):
        v, f = occupancy_mesh(probs[k], thresh)
        fig.add_trace(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1],
                                k=f[:, 2], color="#5b8bd9", visible=k == t - 1,
                                name=label(k), **mesh_kw), row=1, col=1)
    if voxels is not None:
        v, f = occupancy_mesh(voxels, 0.5)
        fig.add_trace(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1],
                                k=f[:, 2], color="#d98c4d", name="ground truth", **mesh_kw),
                      row=1, col=2)
    buttons = [{"label": f"{k + 1} view{'s' if k else ''}", "method": "update",
                "args": [{"visible": [i == k for i in range(t)] + [True] * (cols - 1)},
                         {"annotations[0].text": label(k)}]} for k in range(t)]
    fig.update_layout(
        title={"text": title, "font": {"size": 13}}, height=420, showlegend=False,
        margin={"l": 0, "r": 0, "t": 60, "b": 0}, scene=_scene(), scene2=_scene(),
        updatemenus=[{"type": "buttons", "direction": "right", "buttons": buttons,
                      "active": t - 1, "x": 0.0, "y": 1.12, "xanchor": "left",
                      "showactive": True}])
    return fig


def point_cloud_figure(clouds: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "",
                       max_points: int = 8000) -> Any:
    """Interactive 3D coloured point clouds side by side.

    Args:
        clouds: title -> (points (P, 3) world, scene units; colours (P, 3) RGB in [0, 1]).
        title: figure title.
        max_points: random subsample per cloud (seeded), to keep the figure light.

    Returns:
        A ``plotly.graph_objects.Figure``, or None when plotly is not installed.
    """
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return None
    n = len(clouds)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n],
                        subplot_titles=list(clouds), horizontal_spacing=0.02)
    for i, (pts, cols) in enumerate(clouds.values()):
        pts, cols = subsample_points(pts, cols, max_points)
        rgb = [f"rgb({r},{g},{b})" for r, g, b in np.round(np.clip(cols, 0, 1) * 255).astype(int)]
        fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers",
                                   marker={"size": 2, "color": rgb}, hoverinfo="skip"),
                      row=1, col=i + 1)
    fig.update_layout(title={"text": title, "font": {"size": 13}}, height=420,
                      showlegend=False, margin={"l": 0, "r": 0, "t": 50, "b": 0},
                      **{f"scene{'' if i == 0 else i + 1}": _scene() for i in range(n)})
    return fig

