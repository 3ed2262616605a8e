"""The fuser written in docs/architecture.md ("Writing a fuser") is one file: saved as a module,
it registers itself, and the V-LSM scripts train it with ``--rnn sum`` and test the run.

The example's code is read from the document, so the document cannot drift from what works.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys

import numpy as np
import pytest

from tests.training.test_loop import REPO, TINY

DOC = REPO / "docs" / "architecture.md"


def _example_source() -> str:
    """The Python block of the document's "Writing a fuser" section."""
    section = DOC.read_text().split("## Writing a fuser", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def running_sum(tmp_path):
    """The document's example saved as ``running_sum.py`` and imported; unregistered after."""
    from models.fusion import FUSERS

    path = tmp_path / "running_sum.py"
    path.write_text(_example_source())
    spec = importlib.util.spec_from_file_location("running_sum_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        FUSERS.pop("sum", None)
        sys.modules.pop(spec.name, None)


def test_documented_fuser_follows_the_contract(running_sum):
    """Causal over views, the documented output shape, and registered under its name."""
    from models.fusion import FUSERS, make_fuser

    assert FUSERS["sum"] is running_sum.RunningSum
    layer = make_fuser("sum", 3, kernel_size=3, layer_norm=True, constant_channels=1, name="rnn")
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4, 4, 5)).astype(np.float32)
    y = np.asarray(layer(x))
    assert y.shape == (2, 3, 4, 4, 4, 3)
    x2 = x.copy()
    x2[:, 2] += 1.0  # a change in the last view leaves the outputs of the first two alone
    np.testing.assert_array_equal(np.asarray(layer(x2))[:, :2], y[:, :2])


@pytest.mark.slow
def test_documented_fuser_trains_and_tests_through_the_vlsm_scripts(running_sum, tiny_root,
                                                                   tmp_path):
    from training.cli import test_main, train_main

    flags = []
    for k, v in {**TINY, "data_root": str(tiny_root), "split_file": str(tiny_root / "splits.json"),
                 "logdir": str(tmp_path / "log")}.items():
        flags += [f"--{k}", str(v)]
    assert train_main("vlsm", ["--argsjs", str(REPO / "args" / "args_vlsm.json"), *flags,
                               "--rnn", "sum", "--niters", "2", "--ckpt_iters", "2"]) == 0
    run = next((tmp_path / "log").glob("*/train"))
    assert json.loads((run / "args.json").read_text())["rnn"] == "sum"
    assert test_main("vlsm", ["--log", str(run), "--no_hull", "--result_file",
                              str(tmp_path / "res.json")]) == 0
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["metric"] == "iou" and res["results"]
    assert all(np.all(np.isfinite(r["lsm"]["mean"])) for r in res["results"].values())
