"""The original release's model folders: read its TF1 checkpoints and convert them into runs.

A release model folder (``models_lsm_v1/vlsm-release/train``, what ``get_models.sh`` unpacks)
holds the trainer's ``args.json`` and ``tf.compat.v1.train.Saver`` checkpoints::

    train/args.json                              the release's arguments
    train/checkpoint                             the Saver's index (latest checkpoint)
    train/mvnet-100000.index, .data-00000-of-00001
        MVNet/...                                model variables (release names)
        MVNet/.../Adam, MVNet/.../Adam_1         Adam's first and second moments
        beta1_power, beta2_power, global_step    Adam's bias-correction powers, the iteration

:func:`convert_release` writes a run folder of this project (``args.json`` in our schema and
``mvnet-<N>/`` with the weights, the Adam moments and the iteration, see
:mod:`training.checkpoint`) that every script and notebook reads, on either Keras backend.
Variables are matched by name through :func:`models.lsm.release_variable_map` (our variable
paths are the release names, kernels in the release layout), so no array is transposed.
Reading the TF1 file needs TensorFlow; the converted folder does not.

:func:`ensure_converted` converts on the fly into a cache folder (never into the release
folder), and :func:`redirect_argv` lets the train/val/test scripts take a release folder as
``--log``: evaluation reads the cached conversion (and writes its results there); training
continues in a new run folder from the converted optimizer state.

Every problem raises :class:`ReleaseError` with one message naming the file: not a TF1
checkpoint, a checkpoint of the other model kind, missing variables (listed), variables of the
wrong shape (name and both shapes), an args file that does not describe the checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.io import read_json, write_json

log = logging.getLogger(__name__)

#: A release checkpoint's index file: ``mvnet-<iteration>.index``.
_INDEX = re.compile(r"^(mvnet-(\d+))\.index$")
#: Adam's slot suffixes in TF1 checkpoints: first moment, second moment.
ADAM_SLOTS = ("/Adam", "/Adam_1")
#: Optimizer bookkeeping variables of the release trainer.
BOOKKEEPING = ("beta1_power", "beta2_power", "global_step")
#: Release argument keys that describe the old run's files rather than the model or training;
#: a converted run gets its own.
RUN_KEYS = ("argsjs", "log", "ckpt", "logdir")
#: Display names of the model kinds.
KIND_NAMES = {"vlsm": "V-LSM", "dlsm": "D-LSM"}
#: How many names an error message lists before "... and N more".
_LIST = 12


class ReleaseError(RuntimeError):
    """A release folder or checkpoint cannot be used; the message names the file and why."""


@dataclass
class Conversion:
    """What :func:`convert_release` did.

    Attributes:
        run_dir: the converted run folder.
        checkpoint: its checkpoint folder ``mvnet-<iteration>``.
        kind: ``"vlsm"`` or ``"dlsm"``.
        iteration: the release's ``global_step``.
        source: the TF1 checkpoint prefix it came from.
        with_optimizer: whether the Adam moments were converted too.
        report: one line per argument or variable that was not carried over, and why.
    """

    run_dir: Path
    checkpoint: Path
    kind: str
    iteration: int
    source: Path
    with_optimizer: bool
    report: list[str] = field(default_factory=list)


def _listing(names: Sequence[str]) -> str:
    head = ", ".join(names[:_LIST])
    return head + (f" ... and {len(names) - _LIST} more" if len(names) > _LIST else "")


# --------------------------------------------------------------------------------------------
# Finding and reading TF1 checkpoints
# --------------------------------------------------------------------------------------------
def tf1_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """The TF1 checkpoints of a folder, sorted by iteration: ``[(iteration, prefix), ...]``
    where ``prefix`` is ``<folder>/mvnet-<iteration>`` (the ``.index`` file exists)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = _INDEX.match(p.name)
        if m:
            out.append((int(m.group(2)), folder / m.group(1)))
    return sorted(out)


def is_release_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds release (TF1) checkpoints and none of this project's."""
    from training.runs import list_checkpoints

    return bool(tf1_checkpoints(folder)) and not list_checkpoints(folder)


def resolve_release_checkpoint(folder: str | os.PathLike,
                               ckpt: str | os.PathLike | None = None) -> Path:
    """The TF1 checkpoint prefix a user means.

    Args:
        folder: the release model folder (``.../vlsm-release/train``).
        ckpt: ``mvnet-100000``, ``100000``, a prefix path (with or without ``.index``), or None
            for the checkpoint the folder's ``checkpoint`` file names (else the newest).

    Raises:
        ReleaseError: no such checkpoint (the message lists those present).
    """
    folder = Path(folder)
    have = tf1_checkpoints(folder)
    if ckpt is None:
        index = folder / "checkpoint"
        if index.is_file():  # the Saver's text index; paths may be the authors' absolute ones
            m = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', index.read_text(), re.M)
            if m and (folder / Path(m.group(1)).name).with_suffix(".index").exists():
                return folder / Path(m.group(1)).name
        if have:
            return have[-1][1]
    else:
        text = str(ckpt)
        text = text[: -len(".index")] if text.endswith(".index") else text
        cands = [Path(text), folder / text]
        if text.isdigit():
            cands.append(folder / f"mvnet-{int(text)}")
        for c in cands:
            if Path(str(c) + ".index").is_file():
                return c
    names = ", ".join(p.name for _, p in have) or "no TF1 checkpoints (no mvnet-<N>.index)"
    raise ReleaseError(f"{folder}: checkpoint {ckpt if ckpt is not None else '(latest)'} not "
                       f"found; the folder has {names}")


def read_tf1_checkpoint(prefix: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every variable of a TF1 (``tf.compat.v1.train.Saver``, V2 format) checkpoint.

    Args:
        prefix: the checkpoint prefix (``.../mvnet-100000``; the ``.index`` and
            ``.data-*`` files beside it).

    Returns:
        ``{variable name: array}`` (float32 weights; ``global_step`` an integer scalar).

    Raises:
        ReleaseError: TensorFlow is missing, or the files are not a readable TF1 checkpoint.
    """
    prefix = Path(prefix)
    index = Path(str(prefix) + ".index")
    if not index.is_file():
        raise ReleaseError(f"{index}: not found (a TF1 checkpoint is <prefix>.index plus "
                           f"<prefix>.data-00000-of-00001)")
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from training.quiet import quiet_tensorflow_import

        quiet_tensorflow_import()
        import tensorflow as tf
    except ImportError:
        raise ReleaseError(
            f"{index}: reading a TF1 checkpoint needs TensorFlow (pip install "
            f"tensorflow-cpu==2.21.0); or convert it where TensorFlow is installed with "
            f"scripts/convert_release.py and copy the run folder here") from None
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        shapes = reader.get_variable_to_shape_map()
        return {name: np.asarray(reader.get_tensor(name)) for name in sorted(shapes)}
    except Exception as e:  # TF raises several types (DataLossError, NotFoundError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ReleaseError(f"{index}: not a readable TF1 checkpoint ({first[:200]})") from None


def checkpoint_kind(names: Sequence[str]) -> str:
    """``"dlsm"`` if the variables include the release's depth network, else ``"vlsm"``."""
    return "dlsm" if any(n.startswith("MVNet/DepthNet/") for n in names) else "vlsm"


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------
def convert_args(release_args: Mapping[str, Any], kind: str, source: str | os.PathLike
                 ) -> tuple[Any, list[str]]:
    """Our :class:`training.config.Args` for a release ``args.json``.

    Every release key of our schema keeps its value, except the run's own files
    (:data:`RUN_KEYS`: a converted run has new ones); ``loss`` and ``model`` are set by the
    model kind (the release chose them by script); keys our schema does not have are left out
    and reported.

    Args:
        release_args: the release's ``args.json`` content.
        kind: ``"vlsm"`` or ``"dlsm"``.
        source: the file, for messages.

    Returns:
        ``(args, report)``: the validated arguments and one line per key not carried over.

    Raises:
        ReleaseError: a value our schema rejects (the message names the file and the key).
    """
    from training.config import ConfigError, load_args, schema

    known = schema()
    layer: dict[str, Any] = {}
    report = []
    for key, value in release_args.items():
        if key in RUN_KEYS:
            if value is not None:
                report.append(f"argument {key}={value!r}: the old run's own file; not carried "
                              "over")
            continue
        if key not in known:
            report.append(f"argument {key}={value!r}: not an argument of this project; ignored")
            continue
        layer[key] = value
    loss = "ce" if kind == "vlsm" else "l1"
    if layer.get("loss", loss) != loss:
        report.append(f"argument loss={layer['loss']!r}: a {KIND_NAMES[kind]} trains with "
                      f"{loss}")
    layer["loss"] = loss
    layer["model"] = kind
    try:
        args = load_args(None, layer)
    except ConfigError as e:
        raise ReleaseError(f"{source}: {str(e).split(': ', 1)[-1]}") from None
    return args, report


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------
def _split_variables(arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                                dict[str, np.ndarray],
                                                                dict[str, np.ndarray]]:
    """(model variables, Adam slots, bookkeeping) of a release checkpoint."""
    model, slots, books = {}, {}, {}
    for name, a in arrays.items():
        if name in BOOKKEEPING:
            books[name] = a
        elif name.endswith(ADAM_SLOTS):
            slots[name] = a
        else:
            model[name] = a
    return model, slots, books


def _check_model_variables(prefix: Path, mapping: Mapping[str, Any],
                           arrays: Mapping[str, np.ndarray], args_file: Path) -> None:
    missing = [n for n in mapping if n not in arrays]
    extra = [n for n in arrays if n not in mapping]
    wrong = [f"{n}: checkpoint {list(arrays[n].shape)}, model {list(v.shape)}"
             for n, v in mapping.items()
             if n in arrays and tuple(arrays[n].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} model variables missing from the checkpoint: "
                        f"{_listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} checkpoint variables the model does not have: "
                        f"{_listing(extra)}")
    if wrong:
        problems.append(f"{len(wrong)} variables of the wrong shape: {_listing(wrong)}")
    if problems:
        raise ReleaseError(f"{prefix}.index does not match the model {args_file} describes "
                           f"(was it trained with other arguments?): " + "; ".join(problems))


def _assign_optimizer(optimizer: Any, model: Any, mapping: Mapping[str, Any],
                      slots: Mapping[str, np.ndarray], books: Mapping[str, np.ndarray],
                      iteration: int, beta1: float, prefix: Path, report: list[str]) -> bool:
    """Copy the Adam moments and the iteration into a built Keras Adam; False if absent."""
    by_var = {id(v): n for n, v in mapping.items()}
    trainable = [(by_var[id(v)], v) for v in model.trainable_variables]
    have = [n for n, _ in trainable if all(n + s in slots for s in ADAM_SLOTS)]
    if not have:
        report.append("optimizer: no Adam slots in the checkpoint; training from it starts "
                      "with fresh Adam moments")
        optimizer.iterations.assign(iteration)
        return False
    lacking = [n for n, _ in trainable if n not in have]
    if lacking:  # TF1 makes slots only for variables the loss reaches (not the D-LSM's
        # unused occupancy output layer); their moments are zero, as Keras' stay on zero grads
        report.append(f"optimizer: no Adam slots for {len(lacking)} variables the release's "
                      f"loss does not reach ({_listing(lacking)}); their moments start at 0")
    for name, var in trainable:
        if name in lacking:
            continue
        i = optimizer._get_variable_index(var)
        for slot, store in zip(ADAM_SLOTS, (optimizer._momentums, optimizer._velocities),
                               strict=True):
            a = slots[name + slot]
            if tuple(a.shape) != tuple(store[i].shape):
                raise ReleaseError(f"{prefix}.index: {name}{slot} has shape {list(a.shape)}, "
                                   f"expected {list(store[i].shape)}")
            store[i].assign(a.astype(np.float32))
    optimizer.iterations.assign(iteration)
    if "beta1_power" in books:  # TF1 keeps beta1 ** (steps + 1); Keras derives it from steps
        want = beta1 ** (iteration + 1)
        got = float(books["beta1_power"])
        if not math.isclose(got, want, rel_tol=1e-4):
            report.append(f"optimizer: beta1_power {got:.6g} is not beta1 ** (global_step + 1) "
                          f"= {want:.6g}; Keras' Adam derives it from the iteration")
    return True


def convert_release(log_dir: str | os.PathLike, ckpt: str | os.PathLike | None,
                    out: str | os.PathLike, kind: str | None = None, *,
                    add_to_existing: bool = False) -> Conversion:
    """Convert a release checkpoint (and its ``args.json``) into a run folder of this project.

    Args:
        log_dir: the release model folder (``.../vlsm-release/train``).
        ckpt: the checkpoint (see :func:`resolve_release_checkpoint`); None: the latest.
        out: the run folder to write (``out/args.json``, ``out/mvnet-<N>/``).
        kind: ``"vlsm"`` or ``"dlsm"`` to insist on one (an error otherwise); None detects
            it from the variables.
        add_to_existing: allow ``out`` to hold an earlier conversion of the same release
            folder (same arguments) and add this checkpoint (the cache of
            :func:`ensure_converted`); otherwise ``out`` must not exist or be empty.

    Returns:
        A :class:`Conversion` (its ``report`` lists what was not carried over).

    Raises:
        ReleaseError: see the module docstring; nothing is written then.
    """
    from models.lsm import release_variable_map
    from training.checkpoint import checkpoint_path, save_checkpoint
    from training.config import save_args
    from training.loop import compile_model, make_optimizer
    from training.tasks import task_for

    log_dir, out = Path(log_dir), Path(out)
    prefix = resolve_release_checkpoint(log_dir, ckpt)
    if not add_to_existing and out.exists() and any(out.iterdir()):
        raise ReleaseError(f"--out {out} exists and is not empty; give a new folder (a run is "
                           f"never overwritten)")
    arrays = read_tf1_checkpoint(prefix)
    model_arrays, slots, books = _split_variables(arrays)
    found = checkpoint_kind(list(model_arrays))
    if kind is not None and kind != found:
        script = "depth/*_dlsm.py" if found == "dlsm" else "voxels/*_vlsm.py"
        raise ReleaseError(f"{prefix}.index is a {KIND_NAMES[found]} checkpoint, not a "
                           f"{KIND_NAMES[kind]} one ({'it has' if found == 'dlsm' else 'no'} "
                           f"MVNet/DepthNet/ variables); use {script}")
    args_file = log_dir / "args.json"
    if not args_file.is_file():
        raise ReleaseError(f"{args_file}: not found (the release writes the run's arguments "
                           f"beside its checkpoints; the model cannot be built without them)")
    try:
        release_args = read_json(args_file)
    except Exception as e:
        raise ReleaseError(f"{args_file}: not a JSON file ({e})") from None
    if not isinstance(release_args, dict):
        raise ReleaseError(f"{args_file}: must hold a JSON object of arguments")
    args, report = convert_args(release_args, found, args_file)
    step = int(books["global_step"]) if "global_step" in books else int(prefix.name.split("-")[1])
    if add_to_existing and (out / "args.json").is_file():
        cached = read_json(out / "args.json")
        if cached.get("model", found) is None:  # cached by a version that left the model null
            cached["model"] = found
        if cached != args.to_dict():
            raise ReleaseError(f"{out}/args.json differs from the conversion of {args_file}; "
                               f"remove the cached folder {out}")
        if (checkpoint_path(out, step) / "state.json").is_file():
            raise ReleaseError(f"{checkpoint_path(out, step)} exists already")

    task = task_for(found)
    model = task.build_model(args, "float32")  # the release's numerics
    optimizer = make_optimizer(args)
    compile_model(model, task, args, optimizer)
    mapping = release_variable_map(model)
    _check_model_variables(prefix, mapping, model_arrays, args_file)
    for name, var in mapping.items():
        var.assign(model_arrays[name].astype(np.float32))
    with_opt = _assign_optimizer(optimizer, model, mapping, slots, books, step, args.beta1,
                                 prefix, report)

    out.mkdir(parents=True, exist_ok=True)
    if not (out / "args.json").is_file():
        save_args(args, out / "args.json")
    stat = Path(str(prefix) + ".index").stat()
    source = {"checkpoint": str(prefix.resolve()), "args": str(args_file.resolve()),
              "index_size": stat.st_size, "index_mtime": stat.st_mtime, "report": report}
    path = save_checkpoint(out, step, model, optimizer if with_opt else None,
                           state={"data_step": step, "rng_seed": args.rng_seed, "task": found,
                                  "converted_from": source})
    write_json(out / "converted_from.json", source)
    for line in report:
        log.info("%s: %s", prefix.name, line)
    return Conversion(run_dir=out, checkpoint=path, kind=found, iteration=step,
                      source=prefix, with_optimizer=with_opt, report=report)


# --------------------------------------------------------------------------------------------
# On-the-fly use by the scripts
# --------------------------------------------------------------------------------------------
def cache_dir(folder: str | os.PathLike, cache_root: str | os.PathLike) -> Path:
    """Where :func:`ensure_converted` keeps the conversion of a release folder:
    ``<cache_root>/release/<model name>_<hash>/train``. The hash covers the folder's absolute
    path and its checkpoint files' sizes and times, so changed files convert afresh."""
    folder = Path(folder).resolve()
    h = hashlib.sha1(str(folder).encode())
    for _, p in tf1_checkpoints(folder):
        st = Path(str(p) + ".index").stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    name = folder.parent.name if folder.name == "train" else folder.name
    return Path(cache_root) / "release" / f"{name}_{h.hexdigest()[:10]}" / "train"


def ensure_converted(folder: str | os.PathLike, ckpt: str | os.PathLike | None,
                     kind: str | None, cache_root: str | os.PathLike = "log"
                     ) -> tuple[Path, str]:
    """A converted run folder for a release checkpoint, converting it once (cached).

    Args:
        folder: the release model folder.
        ckpt: the checkpoint (see :func:`resolve_release_checkpoint`); None: the latest.
        kind: the model kind the caller needs, or None.
        cache_root: the folder under which conversions are kept (the scripts' ``--logdir``).

    Returns:
        ``(run folder, checkpoint name)``. The release folder is never written to.

    Raises:
        ReleaseError: as :func:`convert_release`.
    """
    prefix = resolve_release_checkpoint(folder, ckpt)
    run = cache_dir(folder, cache_root)
    from training.runs import list_checkpoints

    for _, path in list_checkpoints(run):
        state = read_json(path / "state.json")
        if state.get("converted_from", {}).get("checkpoint") == str(prefix.resolve()):
            if kind is not None and state.get("task") != kind:
                break  # let convert_release raise the kind error
            log.info("using the conversion of %s in %s", prefix, run)
            return run, path.name
    conv = convert_release(folder, prefix, run, kind, add_to_existing=True)
    log.info("converted the release checkpoint %s into %s (kept for later runs)", prefix,
             conv.checkpoint)
    return run, conv.checkpoint.name


def redirect_argv(argv: Sequence[str] | None, kind: str, purpose: str) -> list[str]:
    """Let a script take a release folder as ``--log``: the same arguments, pointing at a
    converted run instead.

    ``purpose="eval"`` (val/test): ``--log`` becomes the cached conversion
    (:func:`ensure_converted`) and ``--ckpt`` its checkpoint. ``purpose="train"``: the
    checkpoint is converted into a new run folder under ``--logdir`` (``--log`` then names
    it and ``--ckpt`` is dropped), so training continues from the release's weights, Adam
    moments and iteration without touching the release folder. Arguments that do not name a
    release folder are returned unchanged.

    Raises:
        ReleaseError: as :func:`convert_release`.
    """
    import sys

    tokens = list(sys.argv[1:] if argv is None else argv)
    if any(t in ("-h", "--help") for t in tokens):
        return tokens
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flag in ("--log", "--ckpt", "--logdir"):
        p.add_argument(flag, action="append")
    ns, _ = p.parse_known_args(tokens)
    if not ns.log or not is_release_folder(ns.log[-1]):
        return tokens
    folder, ckpt = Path(ns.log[-1]), ns.ckpt[-1] if ns.ckpt else None
    logdir = ns.logdir[-1] if ns.logdir else "log"
    if purpose == "train":
        from training.loop import new_run_dir

        run = new_run_dir(logdir)
        try:
            conv = convert_release(folder, ckpt, run, kind, add_to_existing=True)
        except BaseException:
            for d in (run, run.parent):  # leave no empty run folder behind
                if d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
            raise
        log.info("continuing the release checkpoint %s in the new run %s (iteration %d)",
                 conv.source, run, conv.iteration)
        new_log, new_ckpt = str(run), None
    else:
        run, name = ensure_converted(folder, ckpt, kind, logdir)
        new_log, new_ckpt = str(run), name
    out, skip = [], False
    for i, t in enumerate(tokens):
        if skip:
            skip = False
            continue
        flag = t.split("=", 1)[0]
        if flag in ("--log", "--ckpt"):
            skip = "=" not in t and i + 1 < len(tokens)
            continue
        out.append(t)
    if purpose == "train":
        _record_overrides(run, out)
    out += ["--log", new_log] + (["--ckpt", new_ckpt] if new_ckpt else [])
    return out


def _record_overrides(run: Path, tokens: list[str]) -> None:
    """Write the command line's arguments into a new continuation run's ``args.json``: the run
    starts with them (data, batch, schedule...), so the resume that follows sees no change.
    Invalid arguments are left for the script's own parser to report."""
    from training.config import ConfigError, load_args, save_args

    try:
        args = load_args(run / "args.json", tokens)
    except ConfigError:
        return
    save_args(args.replace(argsjs=None, log=None, ckpt=None), run / "args.json")
