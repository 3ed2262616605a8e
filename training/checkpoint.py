"""Checkpoints ``mvnet-<iteration>`` inside a run's log directory, written atomically.

A checkpoint is a folder (the release's name, kept so users find it where they look)::

    <run>/mvnet-<iteration>/model.weights.h5   Keras 3 weights (any backend)
    <run>/mvnet-<iteration>/optimizer.npz      optimizer variables (Adam moments, step count)
    <run>/mvnet-<iteration>/state.json         iteration, data-stream state, variable list,
                                               size and sha256 of the two files above

It is assembled in a temporary dot-folder and renamed into place, so a crash, a kill or a full
disk leaves the previous checkpoints intact and never a partial one; a save that would not fit
on the disk is refused before writing. Weights that are not finite or have exploded are never
saved (:func:`weights_problem`). Loading verifies the recorded sizes and checksums
(:func:`verify_checkpoint`), so a truncated, garbled or partial checkpoint is named as broken
instead of failing deep in h5py or, worse, loading silently wrong values; it then checks that
the checkpoint's variables match the model (names and shapes) and says which do not.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

from data.io import read_json, write_json
from training.runs import (  # noqa: F401 (the folder-level API, re-exported)
    _FILES,
    PREFIX,
    CheckpointError,
    _sha256,
    checkpoint_dirs,
    checkpoint_path,
    checkpoint_problem,
    latest_checkpoint,
    latest_intact_checkpoint,
    list_checkpoints,
    resolve_checkpoint,
    verify_checkpoint,
)

log = logging.getLogger(__name__)

#: Largest absolute weight a checkpoint may hold: trained LSM weights stay below 1e2; a larger
#: value means the optimisation exploded (e.g. a learning rate of 1e30).
MAX_ABS_WEIGHT = 1e6


def weights_problem(model: keras.Model,
                    optimizer: keras.optimizers.Optimizer | None = None) -> str | None:
    """Why weights must not be saved, or None: a non-finite model or optimizer variable, or a
    model weight larger than :data:`MAX_ABS_WEIGHT` in magnitude (names the variable)."""
    for v in model.weights:
        a = np.asarray(keras.ops.convert_to_numpy(v.value))
        if not np.issubdtype(a.dtype, np.floating):
            continue
        if not np.all(np.isfinite(a)):
            return f"{v.path} holds non-finite values"
        m = float(np.max(np.abs(a))) if a.size else 0.0
        if m > MAX_ABS_WEIGHT:
            return f"{v.path} has exploded (max |w| = {m:.3g} > {MAX_ABS_WEIGHT:g})"
    for v in optimizer.variables if optimizer is not None else ():
        a = np.asarray(keras.ops.convert_to_numpy(v.value))
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            return f"optimizer variable {v.path} holds non-finite values"
    return None


def _variable_list(model: keras.Model) -> list[list[Any]]:
    return [[v.path, list(v.shape)] for v in model.weights]


def _checkpoint_bytes(model: keras.Model,
                      optimizer: keras.optimizers.Optimizer | None) -> int:
    """An estimate of a checkpoint's size on disk: the raw arrays plus about 1 KiB of HDF5 or
    zip overhead per variable (measured: 10% above the real size for the tiny model)."""
    variables = list(model.weights) + (list(optimizer.variables) if optimizer is not None
                                       else [])
    n = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
    return int(n * 1.02) + 1024 * len(variables) + (64 << 10)


def save_checkpoint(run_dir: str | os.PathLike, iteration: int, model: keras.Model,
                    optimizer: keras.optimizers.Optimizer | None = None,
                    state: dict[str, Any] | None = None, check_weights: bool = True) -> Path:
    """Write ``mvnet-<iteration>`` atomically, with the size and sha256 of its files.

    Args:
        run_dir: the run's log directory.
        iteration: training iterations done.
        model: a built model.
        optimizer: its optimizer (built), or None.
        state: extra JSON-ready state (data stream position, args...).
        check_weights: refuse weights that :func:`weights_problem` rejects.

    Returns:
        The checkpoint folder.

    Raises:
        CheckpointError: the weights are not finite or have exploded (nothing is written).
        OSError: from the file system; ``ENOSPC`` (with a message naming the folder, the space
            needed and the space free) already before writing when the checkpoint cannot fit.
            Earlier checkpoints are untouched and nothing partial is left.
    """
    final = checkpoint_path(run_dir, iteration)
    if check_weights:
        problem = weights_problem(model, optimizer)
        if problem is not None:
            raise CheckpointError(f"{final.name} not saved: {problem}")
    final.parent.mkdir(parents=True, exist_ok=True)
    need, free = _checkpoint_bytes(model, optimizer), shutil.disk_usage(final.parent).free
    if need > free:
        raise OSError(errno.ENOSPC, f"No space left on device for {final.name} (needs about "
                      f"{need / 2**20:.1f} MiB, {free / 2**20:.1f} MiB free)", str(final.parent))
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
                f.flush()
                os.fsync(f.fileno())
        files = {name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)}
                 for name in _FILES if (tmp / name).is_file()}
        write_json(tmp / "state.json", {
            "iteration": int(iteration),
            "model_class": type(model).__name__,
            "variables": _variable_list(model),
            "optimizer_variables": [[v.path, list(v.shape)] for v in optimizer.variables]
            if optimizer is not None else [],
            "files": files,
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
        CheckpointError: missing or broken checkpoint (:func:`verify_checkpoint`), or
            variables that do not match the model (the message names the checkpoint and the
            first differences).
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} not found")
    verify_checkpoint(path)
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
            f"({len(diffs)} differences; was it trained with other args, or for the other "
            f"task?): {'; '.join(diffs[:3])}{'; ...' if len(diffs) > 3 else ''}")
    try:
        _load_weights(model, path / "model.weights.h5")
    except Exception as e:  # h5py / Keras errors on a file that passed the size checks
        raise CheckpointError(f"checkpoint {path} is broken: model.weights.h5 cannot be read "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e
    if optimizer is not None and (path / "optimizer.npz").exists():
        try:
            with np.load(path / "optimizer.npz") as z:
                arrays = [z[k] for k in sorted(z.files)]
        except Exception as e:
            raise CheckpointError(f"checkpoint {path} is broken: optimizer.npz cannot be read "
                                  f"({type(e).__name__}: {e})") from e
        if len(arrays) != len(optimizer.variables):
            raise CheckpointError(f"checkpoint {path}: optimizer has {len(arrays)} variables, "
                                  f"expected {len(optimizer.variables)}")
        for v, a in zip(optimizer.variables, arrays, strict=True):
            if tuple(v.shape) != a.shape:
                raise CheckpointError(f"checkpoint {path}: optimizer variable {v.path} has shape "
                                      f"{a.shape}, expected {tuple(v.shape)}")
            v.assign(a)
    return state


def _load_weights(model: keras.Model, weights: Path) -> None:
    """``model.load_weights(weights)``, also for a file saved before a sublayer's class was
    renamed (checkpoints of every run so far stay loadable).

    A Keras weights file stores each direct sublayer of the model under its class's name
    (``layers/conv_rnn3d`` for the recurrent fusion before it became a registry of fusers,
    ``layers/conv_gru`` since). :func:`load_checkpoint` has already matched every variable by
    its path and shape (``state.json``); when the file's top-level groups differ from the
    model's only by such names, with the same arrays beneath, they are renamed in a temporary
    copy, which is then loaded. Anything else is loaded as is (and fails as it would)."""
    import tempfile

    import h5py

    def shapes(group: Any) -> list[tuple[str, tuple[int, ...]]]:
        out: list[tuple[str, tuple[int, ...]]] = []
        group.visititems(lambda n, o: out.append((n, o.shape)) if hasattr(o, "shape") else None)
        return sorted(out)

    with h5py.File(weights, "r") as f:
        have = set(f["layers"]) if "layers" in f else set()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "model.weights.h5"
        model.save_weights(fresh)
        with h5py.File(fresh, "r") as g:
            want = set(g["layers"]) if "layers" in g else set()
            renames = {}
            if have != want:
                with h5py.File(weights, "r") as f:
                    for old in sorted(have - want):
                        same = [n for n in sorted(want - have) if n not in renames.values()
                                and shapes(f["layers"][old]) == shapes(g["layers"][n])]
                        if len(same) == 1:
                            renames[old] = same[0]
        if not renames:
            model.load_weights(weights)
            return
        copy = Path(tmp) / "renamed.weights.h5"
        shutil.copyfile(weights, copy)
        with h5py.File(copy, "r+") as f:
            for old, name in renames.items():
                f["layers"].move(old, name)
        log.info("%s: sublayers saved under their former names %s", weights,
                    ", ".join(f"{o} -> {n}" for o, n in renames.items()))
        model.load_weights(copy)


def checkpoint_task(state: dict[str, Any], loss: str | None) -> str:
    """The registered model a checkpoint holds ("vlsm", "dlsm", ...), from its ``state.json``
    contents (``task``, else the saved ``model_class``) or, for states that name neither, from
    the run's training loss (``ce`` trains V-LSMs)."""
    kind = state.get("task") or str(state.get("model_class", "")).lower()
    if kind in ("vlsm", "dlsm"):
        return kind
    if kind:
        from models.registry import MODELS  # imports the models: only for other names

        if kind in MODELS:
            return kind
    return "vlsm" if loss == "ce" else "dlsm"


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
    from training.tasks import task_for

    path = Path(path)
    if not (path / "state.json").exists():
        raise CheckpointError(f"checkpoint {path} not found (no state.json)")
    kind = checkpoint_task(read_json(path / "state.json"), source_args.get("loss"))
    src_args = load_args(None, {}, defaults=source_args)
    source = task_for(kind).build_model(src_args)
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
