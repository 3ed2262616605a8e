"""The model registry: names, heads, loading every module of the package, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from models.registry import HEADS, MODELS, build_model, model_head, model_names, register_model
from training.tasks import TASKS, DepthTask, VoxelTask, task_for

REPO = Path(__file__).resolve().parents[2]


def test_release_models_are_registered_with_their_heads() -> None:
    from models.lsm import DLSM, VLSM

    assert MODELS["vlsm"] is VLSM and MODELS["dlsm"] is DLSM
    assert (VLSM.model_name, VLSM.head) == ("vlsm", "voxels")
    assert model_head("dlsm") == "depth"
    assert {"vlsm", "dlsm"} <= set(model_names())


def test_task_class_comes_from_the_head() -> None:
    assert set(TASKS) == set(HEADS)
    assert type(task_for("vlsm")) is VoxelTask and type(task_for("dlsm")) is DepthTask
    assert task_for("dlsm").kind == "dlsm" and task_for("dlsm").target == "depth"
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        task_for("nope")


def test_reading_the_registry_imports_the_model_modules() -> None:
    """A new model is one file: nothing imports ``models.lsm`` here, reading MODELS does."""
    code = ("import sys; from models.registry import MODELS; "
            "assert 'models.lsm' not in sys.modules; "
            "print(sorted(MODELS)); assert 'models.lsm' in sys.modules")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "'dlsm'" in r.stdout and "'vlsm'" in r.stdout


def test_register_model_refuses_a_taken_name_and_an_unknown_head() -> None:
    with pytest.raises(ValueError, match="taken by models.lsm.VLSM"):
        register_model("vlsm", head="voxels")(type("Other", (keras.Model,), {}))
    with pytest.raises(ValueError, match="head must be one of"):
        register_model("registry_test_bad_head", head="normals")
    assert "registry_test_bad_head" not in MODELS


def test_build_model_passes_config_and_overrides() -> None:
    model = build_model("vlsm", {"nvox": 16, "im_h": 32, "im_w": 32, "im_channels": 2,
                                 "grid_channels": 2, "rnn_channels": 2, "batch_size": 3},
                        nvox=32)
    assert model.lsm_config["nvox"] == 32 and model.lsm_config["im_channels"] == 2
