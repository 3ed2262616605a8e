"""The shipped models (pretrained/*) load, and reproduce the test table recorded with them.

Their full tables (`test_<ckpt>_test.txt`) need `datasets/full`; CI rebuilds the deterministic
`tiny` dataset and checks the tables recorded on it when the model was shipped
(`test_<ckpt>_tiny.json`, see scripts/ship_model.py): IoU within 0.5 points, depth error
within 1%.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.checkpoint import latest_checkpoint
from training.config import load_args
from training.evaluate import evaluate
from training.loop import load_trained
from training.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (REPO / "pretrained").glob("*") if (p / "args.json").is_file())
#: Models listed in the README (the issue asks for a V-LSM and a D-LSM).
EXPECTED = {"vlsm_cpu", "dlsm_cpu"}


def _kind(folder: Path) -> str:
    return "vlsm" if json.loads((folder / "args.json").read_text())["loss"] == "ce" else "dlsm"


def test_both_models_are_shipped():
    assert EXPECTED <= {p.name for p in SHIPPED}


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_model_reproduces_its_tiny_table(folder, tiny_root):
    ckpt = latest_checkpoint(folder)
    assert ckpt is not None and not (ckpt / "optimizer.npz").exists()
    assert (ckpt / "model.weights.h5").stat().st_size < 20e6
    full = json.loads((folder / f"test_{ckpt.name}_test.json").read_text())
    assert full["num_models"] == 780  # the synthetic `full` test split
    assert "python" in (folder / "README.md").read_text()
    kind = _kind(folder)
    args = load_args(folder / "args.json", {"data_root": str(tiny_root),
                                            "test_split_file": str(tiny_root / "splits.json")})
    model, _ = load_trained(args, TASKS[kind], folder, ckpt.name)
    res = evaluate(args, TASKS[kind], model, "test", progress=False).to_json()
    want = json.loads((folder / f"test_{ckpt.name}_tiny.json").read_text())
    assert res["num_models"] == want["num_models"] == 13
    for key, entry in want["results"].items():
        for who, curves in entry.items():
            got = res["results"][key][who]
            for synset, curve in curves["per_class"].items():
                have = np.array(got["per_class"][synset])
                if kind == "vlsm":  # IoU in [0, 1]: 0.5 points
                    np.testing.assert_allclose(have, curve, atol=0.005, err_msg=synset)
                else:  # depth error: 1%
                    np.testing.assert_allclose(have, curve, rtol=0.01, err_msg=synset)
