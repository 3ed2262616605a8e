"""Checkpoints ``mvnet-<iteration>`` inside a run's log directory, written atomically.

A checkpoint is a folder (the release's name, kept so users find it where they look)::

    <run>/mvnet-<iteration>/model.weights.h5   Keras 3 weights (any backend)
    <run>/mvnet-<iteration>/optimizer.npz      optimizer variables (Adam moments, step count)
    <run>/mvnet-<iteration>/state.json         iteration, data-stream state, variable list

It is assembled in a temporary dot-folder and renamed into place, so a crash, a kill or a full
disk leaves the previous checkpoints intact and never a partial one. Loading checks that the
checkpoint's variables match the model (names and shapes) and says which do not.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

from data.io import read_json, write_json

log = logging.getLogger(__name__)

PREFIX = "mvnet"
_NAME = re.compile(rf"^{PREFIX}-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing or does not match the model; the message names both."""


def checkpoint_path(run_dir: str | os.PathLike, iteration: int) -> Path:
    """``<run_dir>/mvnet-<iteration>``."""
    return Path(run_dir) / f"{PREFIX}-{int(iteration)}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, sorted by iteration: ``[(iteration, path), ...]``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    out = []
    for p in run_dir.iterdir():
        m = _NAME.match(p.name)
        if m and (p / "state.json").exists():
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    ck = list_checkpoints(run_dir)
    return ck[-1][1] if ck else None


def resolve_checkpoint(ckpt: str | os.PathLike, run_dir: str | os.PathLike | None = None) -> Path:
    """Find a checkpoint from what a user typed.

    Args:
        ckpt: a checkpoint folder, a checkpoint name (``mvnet-5000``, looked up in ``run_dir``),
            an iteration number, or a run folder (its latest checkpoint).
        run_dir: the run's log directory, for names and numbers.

    Raises:
        CheckpointError: nothing matches; the message lists the checkpoints that exist.
    """
    cands = [Path(ckpt)]
    if run_dir is not None:
        cands.append(Path(run_dir) / str(ckpt))
        if str(ckpt).isdigit():
            cands.append(checkpoint_path(run_dir, int(ckpt)))
    for c in cands:
        if (c / "state.json").exists():
            return c
        if c.is_dir() and latest_checkpoint(c) is not None:
            return latest_checkpoint(c)  # type: ignore[return-value]
    where = Path(run_dir) if run_dir is not None else Path(ckpt).parent
    have = [p.name for _, p in list_checkpoints(where)]
    raise CheckpointError(f"checkpoint {ckpt} not found (looked in {where}; it has "
                          f"{', '.join(have) if have else 'no checkpoints'})")


def _variable_list(model: keras.Model) -> list[list[Any]]:
    return [[v.path, list(v.shape)] for v in model.weights]


def save_checkpoint(run_dir: str | os.PathLike, iteration: int, model: keras.Model,
                    optimizer: keras.optimizers.Optimizer | None = None,
                    state: dict[str, Any] | None = None) -> Path:
    """Write ``mvnet-<iteration>`` atomically.

    Args:
        run_dir: the run's log directory.
        iteration: training iterations done.
        model: a built model.
        optimizer: its optimizer (built), or None.
        state: extra JSON-ready state (data stream position, args...).

    Returns:
        The checkpoint folder.

    Raises:
        OSError: from the file system (e.g. a full disk); earlier checkpoints are untouched.
    """
    final = checkpoint_path(run_dir, iteration)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        model.save_weights(tmp / "model.weights.h5")
        if optimizer is not None:
            arrays = {f"v{i:04d}": keras.ops.convert_to_numpy(v.value)
                      for i, v in enumerate(optimizer.variables)}
            with open(tmp / "optimizer.npz", "wb") as f:
                np.savez(f, **arrays)
        write_json(tmp / "state.json", {
            "iteration": int(iteration),
            "model_class": type(model).__name__,
            "variables": _variable_list(model),
            "optimizer_variables": [[v.path, list(v.shape)] for v in optimizer.variables]
            if optimizer is not None else [],
            **(state or {}),
        })
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_checkpoint(path: str | os.PathLike, model: keras.Model,
                    optimizer: keras.optimizers.Optimizer | None = None) -> dict[str, Any]:
    """Restore a model (and optionally its optimizer) from a checkpoint folder.

    Args:
        path: the checkpoint folder (see :func:`resolve_checkpoint`).
        model: a built model of the same architecture.
        optimizer: a built optimizer to restore, or None to skip it.

    Returns:
        The checkpoint's ``state.json`` content.

    Raises:
        CheckpointError: missing checkpoint, or variables that do not match the model (the
            message names the checkpoint and the first differences).
    """
    path = Path(path)
    if not (path / "state.json").exists():
        raise CheckpointError(f"checkpoint {path} not found (no state.json)")
    state = read_json(path / "state.json")
    have = {name: shape for name, shape in state.get("variables", [])}
    want = {name: shape for name, shape in _variable_list(model)}
    diffs = []
    for name, shape in want.items():
        if name not in have:
            diffs.append(f"{name} {shape} is missing from the checkpoint")
        elif have[name] != shape:
            diffs.append(f"{name}: checkpoint has {have[name]}, model has {shape}")
    for name in have:
        if name not in want:
            diffs.append(f"{name} {have[name]} is in the checkpoint but not in the model")
    if diffs:
        raise CheckpointError(
            f"checkpoint {path} does not match the model {type(model).__name__} "
            f"({len(diffs)} differences; was it trained with other args?):\n  "
            + "\n  ".join(diffs[:10]))
    model.load_weights(path / "model.weights.h5")
    if optimizer is not None and (path / "optimizer.npz").exists():
        with np.load(path / "optimizer.npz") as z:
            arrays = [z[k] for k in sorted(z.files)]
        if len(arrays) != len(optimizer.variables):
            raise CheckpointError(f"checkpoint {path}: optimizer has {len(arrays)} variables, "
                                  f"expected {len(optimizer.variables)}")
        for v, a in zip(optimizer.variables, arrays, strict=True):
            if tuple(v.shape) != a.shape:
                raise CheckpointError(f"checkpoint {path}: optimizer variable {v.path} has shape "
                                      f"{a.shape}, expected {tuple(v.shape)}")
            v.assign(a)
    return state


def copy_matching_weights(path: str | os.PathLike, model: keras.Model,
                          source_args: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Copy the variables of a checkpoint that match ``model`` by path and shape (warm start).

    The checkpoint's own model is rebuilt from ``source_args`` (its run's ``args.json``; the
    task is read from the checkpoint), restored, and every variable whose path and shape also
    exist in ``model`` is copied. V-LSM and D-LSM share the trunk's variable paths
    (``MVNet/ImNet_UNet/...``, ``MVNet/Grid_Unet/...``), so a trained V-LSM initialises a
    D-LSM's image encoder, recurrent fusion and grid network.

    Args:
        path: a checkpoint folder (see :func:`resolve_checkpoint`).
        model: the built model to initialise.
        source_args: the arguments the checkpoint was trained with.

    Returns:
        (copied variable paths, model variable paths left as initialised).

    Raises:
        CheckpointError: the checkpoint is missing, or nothing matches.
    """
    from training.config import load_args
    from training.tasks import TASKS

    path = Path(path)
    if not (path / "state.json").exists():
        raise CheckpointError(f"checkpoint {path} not found (no state.json)")
    state = read_json(path / "state.json")
    kind = state.get("task") or ("vlsm" if source_args.get("loss") == "ce" else "dlsm")
    src_args = load_args(None, {}, defaults=source_args)
    source = TASKS[kind].build_model(src_args)
    load_checkpoint(path, source)
    have = {v.path: v for v in source.weights}
    copied, kept = [], []
    for v in model.weights:
        s = have.get(v.path)
        if s is not None and tuple(s.shape) == tuple(v.shape):
            v.assign(s.value)
            copied.append(v.path)
        else:
            kept.append(v.path)
    if not copied:
        raise CheckpointError(f"no variable of {path} matches the model {type(model).__name__} "
                              f"(by path and shape)")
    return copied, kept
