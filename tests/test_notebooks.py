"""The demo notebooks (demo_vlsm.ipynb, demo_dlsm.ipynb), their helpers and the HTML renderer.

The notebooks are executed top to bottom in a fresh ``python3`` kernel on the ``tiny`` dataset
(the session fixture ``tiny_root``) with the shipped models, and their key outputs checked: the
IoU table (V-LSM) or the depth error tables (D-LSM), the own-views cell, figures and the
interactive plotly figures.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import math
import re
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"vlsm": REPO / "demo_vlsm.ipynb", "dlsm": REPO / "demo_dlsm.ipynb"}
#: The shipped model each notebook runs by default (the D-LSM demo: the mask-head model).
DEFAULT_MODELS = {"vlsm": "pretrained/vlsm_cpu", "dlsm": "pretrained/dlsm_mask_cpu"}
#: Seconds one cell may take (the whole notebook takes ~15-30 s on 2 cores).
CELL_TIMEOUT = 300
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _cells_by_tag(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def _text(cell: nbformat.NotebookNode) -> str:
    """All stdout text and text/plain results of a code cell."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and out.name == "stdout":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def _table_values(text: str) -> dict[str, list[float]]:
    """``{row label: values}`` of the pipe tables printed by ``training.demo.format_table``."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[1]) <= set("-"):
            continue
        try:
            rows[cells[0]] = [float(c) for c in cells[1:]]
        except ValueError:  # the header
            continue
    return rows


def _load_render_script():
    spec = importlib.util.spec_from_file_location("render_notebooks",
                                                  REPO / "scripts" / "render_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------------------------
# The stored notebooks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(NOTEBOOKS))
def test_stored_notebook_has_no_outputs(kind):
    nb = nbformat.read(NOTEBOOKS[kind], as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    code = [c for c in nb.cells if c.cell_type == "code"]
    for c in code:
        assert c.outputs == [], f"{NOTEBOOKS[kind].name}: a cell has outputs; clear them"
        assert c.execution_count is None, f"{NOTEBOOKS[kind].name}: execution count not null"
    # The parameters cell comes first and defines the documented knobs.
    params = _cells_by_tag(nb, "parameters")
    assert params and params[0] is code[0]
    default_model = DEFAULT_MODELS[kind]
    for name in ("MODEL_DIR", "CKPT", "DATA_ROOT", "N_MODELS", "LSM_DEMO_DATA_ROOT",
                 "LSM_DEMO_MODEL_DIR", f'"{default_model}"'):
        assert name in params[0].source
    assert (REPO / default_model / "args.json").is_file()  # a shipped model
    assert _cells_by_tag(nb, "own-views")


# --------------------------------------------------------------------------------------------
# Helpers (no kernel)
# --------------------------------------------------------------------------------------------
def test_compress_plotly_roundtrip():
    render = _load_render_script()
    lib = "window.Plotly = {newPlot: function () {}}; /* " + "x" * 3000 + " */"
    page = f"<html><head></head><body><script type=\"text/javascript\">{lib}</script></body></html>"
    out = render.compress_plotly(page, lib)
    assert lib not in out
    payload = re.search(r'atob\("([A-Za-z0-9+/=]+)"\)', out).group(1)
    assert gzip.decompress(base64.b64decode(payload)).decode() == lib
    assert out.count("<script") == out.count("</script>") == 1
    with pytest.raises(ValueError, match="embedded once"):
        render.compress_plotly(page + page, lib)


def test_demo_data_helpers(tiny_root):
    from training import demo

    root, split = demo.find_data(tiny_root, build=False)
    assert root == Path(tiny_root)
    assert split.name in ("splits_tiny.json", "splits.json")
    picked = demo.sample_models(split, 3)
    assert len(picked) == 3 and len({s for s, _ in picked}) == 3
    from data.loader import split_models

    everything = demo.sample_models(split, 100)  # more than there are: all, each once
    assert sorted(everything) == sorted(split_models(split, "test"))
    with pytest.raises(FileNotFoundError):
        demo.find_data(Path(tiny_root) / "nope")


def test_find_data_builds_tiny_when_there_is_no_data(tiny_root, tmp_path, monkeypatch):
    from training import demo

    calls = []

    def fake_run(cmd, cwd, check):  # stands for `python -m data.build synth --size tiny`
        calls.append(cmd)
        (Path(cwd) / "datasets").mkdir()
        (Path(cwd) / "datasets" / "tiny").symlink_to(tiny_root)

    monkeypatch.setattr(demo, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(demo.subprocess, "run", fake_run)
    with pytest.raises(FileNotFoundError, match="no data"):
        demo.find_data(build=False)
    root, split = demo.find_data()
    assert calls and calls[0][1:5] == ["-m", "data.build", "synth", "--size"]
    assert calls[0][5] == "tiny"
    assert root == tmp_path / "datasets" / "tiny" and split.is_file()


def test_own_views_any_size_and_camera_checks(tmp_path):
    from PIL import Image

    from training import demo

    K = np.array([[420.0, 0, 112], [0, 420, 112], [0, 0, 1]])
    E = np.array([[0.0, 1, 0, 0], [0, 0, -1, 0], [-1, 0, 0, 2]])  # az 0, el 0, distance 2
    rgba = np.zeros((90, 120, 4), np.uint8)
    rgba[30:60, 40:80] = (255, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(rgba[..., :3]).convert("L").save(tmp_path / "b.png")
    Kf = K * np.array([[120 / 224], [90 / 224], [1]])
    views = demo.prepare_own_views([tmp_path / "a.png", tmp_path / "b.png"], [Kf, Kf],
                                   [E, np.vstack([E, [0, 0, 0, 1]])], (64, 32))
    assert views["images"].shape == (2, 64, 32, 3)
    assert views["images"][0, 0, 0].tolist() == [1.0, 1.0, 1.0]  # transparent -> white
    np.testing.assert_allclose(views["K"][0], K * np.array([[32 / 224], [64 / 224], [1]]),
                               rtol=1e-6)
    assert views["extrinsic"].shape == (2, 3, 4)
    cam_to_world = np.hstack([E[:, :3].T, (-E[:, :3].T @ E[:, 3])[:, None]])
    with pytest.raises(ValueError, match="behind the camera"):
        demo.prepare_own_views([tmp_path / "a.png"], [Kf], [cam_to_world], (64, 64))
    with pytest.raises(ValueError, match="one K and one extrinsic per image"):
        demo.prepare_own_views([tmp_path / "a.png"], [Kf, Kf], [E], (64, 64))


# --------------------------------------------------------------------------------------------
# Executing the notebooks
# --------------------------------------------------------------------------------------------
def _execute(kind: str, data_root: Path, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> tuple[nbformat.NotebookNode, float]:
    from nbclient import NotebookClient

    monkeypatch.setenv("LSM_DEMO_DATA_ROOT", str(data_root))
    monkeypatch.setenv("LSM_DEMO_N_MODELS", "2")
    monkeypatch.setenv("LSM_DEMO_PLOTLY_RENDERER", "plotly_mimetype")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the own-views files
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    nb = nbformat.read(NOTEBOOKS[kind], as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO)}}).execute()
    seconds = time.perf_counter() - t0
    print(f"{NOTEBOOKS[kind].name} executed in {seconds:.1f} s")
    for c in nb.cells:
        for out in c.get("outputs", []):
            assert out.output_type != "error", f"{out.ename}: {out.evalue}"
    return nb, seconds


def _count(nb: nbformat.NotebookNode, mime: str) -> int:
    return sum(mime in out.get("data", {}) for c in nb.cells for out in c.get("outputs", [])
               if out.output_type in ("display_data", "execute_result"))


@pytest.mark.slow
def test_vlsm_notebook_runs(tiny_root, tmp_path, monkeypatch):
    nb, _ = _execute("vlsm", tiny_root, tmp_path, monkeypatch)
    text = _text(_cells_by_tag(nb, "iou-table")[0])
    assert "IoU x100" in text
    table = _table_values(text)
    assert "mean" in table and len(table) == 3  # 2 models + mean
    for vals in table.values():
        assert len(vals) == 4 and all(math.isfinite(v) and 0 <= v <= 100 for v in vals)
    own = _text(_cells_by_tag(nb, "own-views")[0])
    vals = re.search(r"own files: \[([^\]]*)\]", own).group(1).split()
    assert len(vals) == 4 and all(math.isfinite(float(v)) for v in vals)
    assert "160x160 px" in own and "240x180 px" in own
    assert _count(nb, "image/png") >= 2 + 2 + 1  # views, occupancy, own views
    assert _count(nb, PLOTLY_MIME) == 2  # one interactive figure per model


@pytest.mark.slow
def test_dlsm_notebook_runs(tiny_root, tmp_path, monkeypatch):
    nb, _ = _execute("dlsm", tiny_root, tmp_path, monkeypatch)
    text = _text(_cells_by_tag(nb, "depth-error-table")[0])
    assert "over the views seen so far" in text and "over all input views" in text
    table = _table_values(text.split("over all input views")[0])
    assert "mean" in table and len(table) == 3
    for vals in table.values():
        assert len(vals) == 4 and all(math.isfinite(v) and 0 <= v < 10 for v in vals)
    own = _text(_cells_by_tag(nb, "own-views")[0])
    vals = re.search(r"own files: \[([^\]]*)\]", own).group(1).split()
    assert len(vals) == 4 and all(math.isfinite(float(v)) for v in vals)
    assert _count(nb, "image/png") >= 2 + 2 + 1  # views, depth maps, own views
    assert _count(nb, PLOTLY_MIME) == 2  # one fused point cloud figure per model
