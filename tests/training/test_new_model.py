"""A new model is one registered class (+ an args file naming it): the loop, evaluation and the
V-LSM scripts train and test it with the task of its head, no other code changed.

The model here is a throwaway, registered by this test module: per view, the image's mean
colour through one dense layer gives ``N^3`` logits; the prediction after views ``0..t`` is
their running mean (so it is causal over views, as the voxel head's contract asks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops

from models.registry import register_model
from tests.training.test_loop import REPO, TINY, tiny_args
from training import checkpoint as ck
from training.config import schema
from training.evaluate import evaluate
from training.loop import load_trained, train
from training.tasks import VoxelTask, task_for

NAME = "test_mean_colour_voxels"


@register_model(NAME, head="voxels")
class MeanColourVoxels(keras.Model):
    """``images [B, V, H, W, 3]`` -> logits ``[B, V, N, N, N, 1]`` (cameras unused)."""

    def __init__(self, config: dict[str, Any] | None = None, name: str = "MVNet",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.nvox = int((config or {}).get("nvox", 32))
        self.to_grid = keras.layers.Dense(self.nvox**3, name="to_grid")

    def call(self, inputs: dict[str, Any], training: bool | None = None) -> Any:
        images = inputs["images"]
        views, n = images.shape[1], self.nvox
        logits = self.to_grid(ops.mean(images, axis=(2, 3)))  # [B, V, N^3]
        seen = ops.reshape(ops.arange(1, views + 1, dtype="float32"), (1, views, 1))
        return ops.reshape(ops.cumsum(logits, axis=1) / seen, (-1, views, n, n, n, 1))


def _has_model_key() -> bool:
    return "model" in schema()


def test_new_model_trains_and_tests_through_the_loop_with_its_heads_task(tiny_root, tmp_path):
    task = task_for(NAME)
    assert type(task) is VoxelTask and task.kind == NAME
    args = tiny_args(tiny_root, tmp_path, niters=2, ckpt_iters=2)
    if _has_model_key():
        args = args.replace(model=NAME)
        task = None  # the loop picks the model and its task from the args alone
    res = train(args, task, progress=False)
    assert len(res.losses) == 2 and all(np.isfinite(res.losses))
    state = json.loads((res.checkpoint / "state.json").read_text())
    assert state["task"] == NAME
    saved = json.loads((res.run_dir / "args.json").read_text())
    assert saved.get("model", NAME) == NAME
    model, _ = load_trained(args, task_for(NAME), res.run_dir, None)
    assert isinstance(model, MeanColourVoxels)
    assert ck.checkpoint_task(state, "l1") == NAME  # the checkpoint names its model
    out = evaluate(args, task_for(NAME), model, "test", with_hull=False, progress=False)
    assert out.task == NAME and out.metric == "iou"
    assert out.scores.shape == (len(out.models), TINY["test_im_batch"], 1)


@pytest.mark.skipif(not _has_model_key(), reason="the config key 'model' has not landed yet")
def test_new_model_from_an_args_file_through_the_vlsm_scripts(tiny_root, tmp_path):
    """``voxels/train_vlsm.py --argsjs FILE`` with ``"model": NAME`` in FILE, then
    ``voxels/test_vlsm.py`` (their entry points, in this process where the model exists)."""
    from training.cli import test_main, train_main

    argsjs = tmp_path / "args_new.json"
    argsjs.write_text(json.dumps({**json.loads((REPO / "args" / "args_vlsm.json").read_text()),
                                  "model": NAME}))
    flags = []
    for k, v in {**TINY, "data_root": str(tiny_root), "split_file": str(tiny_root / "splits.json"),
                 "logdir": str(tmp_path / "log")}.items():
        flags += [f"--{k}", str(v)]
    assert train_main("vlsm", ["--argsjs", str(argsjs), *flags, "--niters", "1",
                               "--ckpt_iters", "1"]) == 0
    run = next((tmp_path / "log").glob("*/train"))
    assert json.loads((run / "args.json").read_text())["model"] == NAME
    assert test_main("vlsm", ["--log", str(run), "--no_hull", "--result_file",
                              str(tmp_path / "res.json")]) == 0
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["task"] == NAME and res["metric"] == "iou"


def test_a_task_is_bound_to_its_model_and_wins_over_the_args(tiny_root, tmp_path):
    """Passing a task trains the task's model; the run records that model."""
    args = tiny_args(tiny_root, tmp_path, niters=1)
    if _has_model_key():
        args = args.replace(model="vlsm")
    res = train(args, task_for(NAME), progress=False)
    saved = json.loads((res.run_dir / "args.json").read_text())
    assert saved.get("model", NAME) == NAME
    assert json.loads((res.checkpoint / "state.json").read_text())["task"] == NAME


def test_module_defines_no_other_code_path() -> None:
    """The throwaway model is found by name like the release's models."""
    from models.registry import MODELS

    assert MODELS[NAME] is MeanColourVoxels
    assert Path(__file__).name not in {p.name for p in (REPO / "models").iterdir()}
