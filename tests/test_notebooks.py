"""The demo notebooks (demo_vlsm.ipynb, demo_dlsm.ipynb) and the HTML renderer.

The notebooks are executed top to bottom in a fresh ``python3`` kernel on the ``tiny`` dataset
(the session fixture ``tiny_root``) with the shipped models, and their key outputs checked: the
IoU table (V-LSM) or the depth error tables (D-LSM), the own-views cell, figures and the
interactive plotly figures. Both also run once more, side by side, under ``KERAS_BACKEND=jax``
in kernels that cannot import TensorFlow (what a JAX-only machine has). Their helpers
(``demo/``, ``vis/``) are tested in ``tests/demo`` and ``tests/vis``.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import importlib.util
import math
import os
import re
import time
from pathlib import Path

import nbformat
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
    """``{row label: values}`` of the pipe tables printed by ``demo.tables.format_table``."""
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


# --------------------------------------------------------------------------------------------
# Executing the notebooks
# --------------------------------------------------------------------------------------------
#: ``sitecustomize.py`` of the no-TensorFlow kernels: Python runs it at start-up when its folder
#: is on ``PYTHONPATH``, before the kernel imports anything.
NO_TF_SITECUSTOMIZE = """\
# tests/test_notebooks.py: TensorFlow is not importable in this process (as on a JAX-only
# machine): `import tensorflow` raises ModuleNotFoundError, importlib.util.find_spec gives None.
import sys

sys.modules["tensorflow"] = None
"""
#: Appended to each notebook copy run without TensorFlow: what the kernel ended up with.
BACKEND_REPORT = ('import sys, keras\n'
                  'print("tensorflow module:", sys.modules.get("tensorflow", "never imported"))\n'
                  'print("keras backend:", keras.backend.backend())')
#: The notebook executions each test checks: (notebook, "tf" (the default backend, two test
#: models) or "jax" (KERAS_BACKEND=jax, TensorFlow not importable, one test model)).
EXECUTIONS = {
    "test_vlsm_notebook_runs": [("vlsm", "tf")],
    "test_dlsm_notebook_runs": [("dlsm", "tf")],
    "test_notebooks_run_on_jax_without_tensorflow": [("vlsm", "jax"), ("dlsm", "jax")],
}


@pytest.fixture(scope="module")
def executed(request, tiny_root, tmp_path_factory
             ) -> dict[tuple[str, str], nbformat.NotebookNode | BaseException]:
    """Every notebook execution the selected tests of this module check, all at once.

    Each runs top to bottom in a fresh ``python3`` kernel of its own (so the four share the
    machine's cores: on 2 cores about 140 s together instead of 170 s one after another).
    Returns ``{(kind, backend): executed notebook, or the exception its execution raised}``.

    The "jax" kernels get ``KERAS_BACKEND=jax``, a ``sitecustomize.py`` on ``PYTHONPATH`` that
    makes TensorFlow unimportable (:data:`NO_TF_SITECUSTOMIZE`), and JAX's non-partitionable
    threefry, which compiles the weight initialisers of the model build (overwritten by the
    checkpoint, so nothing shown changes) several times faster on CPU.
    """
    from nbclient import NotebookClient

    here = Path(__file__).resolve()
    selected = {getattr(item, "originalname", item.name) for item in request.session.items
                if Path(str(item.fspath)).resolve() == here}
    runs = sorted({run for name in selected for run in EXECUTIONS.get(name, [])})
    tmp = tmp_path_factory.mktemp("notebooks")
    shim = tmp / "no_tensorflow"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(NO_TF_SITECUSTOMIZE)
    common = {"LSM_DEMO_DATA_ROOT": str(tiny_root), "LSM_DEMO_PLOTLY_RENDERER": "plotly_mimetype",
              "TMPDIR": str(tmp), "TF_CPP_MIN_LOG_LEVEL": "2"}  # TMPDIR: the own-views files
    pythonpath = os.pathsep.join([str(shim), *filter(None, [os.environ.get("PYTHONPATH")])])
    envs = {"tf": {**os.environ, **common, "LSM_DEMO_N_MODELS": "2"},
            "jax": {**os.environ, **common, "LSM_DEMO_N_MODELS": "1", "KERAS_BACKEND": "jax",
                    "JAX_PLATFORMS": "cpu", "JAX_THREEFRY_PARTITIONABLE": "0",
                    "PYTHONPATH": pythonpath}}

    async def execute(kind: str, backend: str) -> nbformat.NotebookNode:
        nb = nbformat.read(NOTEBOOKS[kind], as_version=4)
        if backend == "jax":
            nb.cells.append(nbformat.v4.new_code_cell(BACKEND_REPORT))
        t0 = time.perf_counter()
        await NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                             resources={"metadata": {"path": str(REPO)}}
                             ).async_execute(env=envs[backend])
        print(f"{NOTEBOOKS[kind].name} ({backend}) executed in {time.perf_counter() - t0:.1f} s")
        return nb

    async def execute_all() -> list[nbformat.NotebookNode | BaseException]:
        return await asyncio.gather(*(execute(*run) for run in runs), return_exceptions=True)

    return dict(zip(runs, asyncio.run(execute_all()), strict=True))


def _notebook(executed: dict, kind: str, backend: str) -> nbformat.NotebookNode:
    """One execution of :func:`executed`, checked free of errors."""
    nb = executed[kind, backend]
    if isinstance(nb, BaseException):
        raise nb
    for c in nb.cells:
        for out in c.get("outputs", []):
            assert out.output_type != "error", f"{out.ename}: {out.evalue}"
    return nb


def _count(nb: nbformat.NotebookNode, mime: str) -> int:
    return sum(mime in out.get("data", {}) for c in nb.cells for out in c.get("outputs", [])
               if out.output_type in ("display_data", "execute_result"))


@pytest.mark.slow
def test_vlsm_notebook_runs(executed):
    nb = _notebook(executed, "vlsm", "tf")
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
def test_dlsm_notebook_runs(executed):
    nb = _notebook(executed, "dlsm", "tf")
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


@pytest.mark.slow
def test_notebooks_run_on_jax_without_tensorflow(executed):
    """Every cell of both notebooks on JAX in kernels where TensorFlow cannot be imported
    (what a JAX-only machine has), one test model each."""
    for kind in sorted(NOTEBOOKS):
        nb = _notebook(executed, kind, "jax")
        assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
        report = _text(nb.cells[-1])
        assert "tensorflow module: None" in report and "keras backend: jax" in report, report
        tag = "iou-table" if kind == "vlsm" else "depth-error-table"
        table = _table_values(_text(_cells_by_tag(nb, tag)[0]).split("over all input views")[0])
        assert "mean" in table and len(table) == 2  # 1 model + mean
        for vals in table.values():
            assert len(vals) == 4 and all(math.isfinite(v) for v in vals)
        own = _text(_cells_by_tag(nb, "own-views")[0])
        vals = re.search(r"own files: \[([^\]]*)\]", own).group(1).split()
        assert len(vals) == 4 and all(math.isfinite(float(v)) for v in vals)
        assert _count(nb, "image/png") >= 1 + 1 + 1  # views, prediction, own views
        assert _count(nb, PLOTLY_MIME) == 1  # one interactive figure per model
