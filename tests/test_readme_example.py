"""The README's Python example runs exactly as printed: the ```python block under "In Python"
is extracted and executed (on the `tiny` dataset, with the shipped V-LSM), and writes a mesh."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import trimesh

REPO = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    """The first ```python block of README.md's "In Python" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## In Python\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return block


def test_readme_example_is_short():
    lines = [ln for ln in readme_example().splitlines() if ln.strip()]
    assert len(lines) <= 10


def test_readme_example_runs_as_printed(tiny_root, tmp_path, monkeypatch):
    import demo.datasets

    # the example's find_data() takes the first local data root: make it the tiny dataset
    monkeypatch.setattr(demo.datasets, "DATA_CANDIDATES", ((str(tiny_root), "splits_tiny"),))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme_example(), "README.md", "exec"), {"__name__": "readme"})
    name, iou = re.fullmatch(r"(\w+): IoU (\d\.\d\d)\n", out.getvalue()).groups()
    assert 0.0 < float(iou) <= 1.0
    mesh = trimesh.load(tmp_path / "prediction.obj")
    assert len(mesh.faces) > 100
    lo, hi = mesh.bounds  # the object lies in the unit cube around the origin
    assert (lo >= -0.55).all() and (hi <= 0.55).all()
