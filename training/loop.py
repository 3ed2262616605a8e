"""The one training loop of the project, shared by V-LSM and D-LSM.

``train(args, task)``:

* makes a run directory ``<logdir>/<timestamp>/train`` holding ``args.json`` (the resolved
  arguments), or resumes one (``--ckpt`` names a checkpoint; ``--log`` a run, whose latest
  checkpoint is used);
* builds the model, Adam (``lr``, ``beta1``) with the release's staircase exponential decay
  (``decay_rate`` every ``decay_steps``), compiles the training step (``tf.function`` or
  ``jax.jit`` through Keras, XLA if ``jit_compile``);
* reads the training stream of :func:`data.stream.make_loader` (tf.data, or numpy threads where
  TensorFlow is missing) from the checkpoint's position, so a resumed run sees exactly the
  batches the uninterrupted run would have seen;
* writes TensorBoard scalars (loss, learning rate, step time, metrics per number of views) and
  pictures every ``sum_iters``, shows a tqdm bar with loss and it/s, and saves
  ``mvnet-<iteration>`` every ``ckpt_iters`` and at the end (atomically);
* stops at a non-finite loss with a clear message, without saving the broken weights: the last
  good checkpoint stays the newest;
* with ``max_minutes``, stops after that much wall time with a checkpoint (no ``finished.json``:
  the run is resumable with ``--log``), for time-limited machines and cluster jobs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm import tqdm

from data.io import read_json, write_json
from training.checkpoint import (
    copy_matching_weights,
    latest_checkpoint,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from training.config import Args, save_args
from training.precision import fast_precision, resolve_precision
from training.summaries import SummaryWriter
from training.tasks import Task, model_inputs

log = logging.getLogger(__name__)

#: File a finished run writes into its directory (validation watchers stop when they see it).
FINISHED = "finished.json"


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says what to do."""


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        run_dir: the run's log directory.
        start: iteration it started from (0, or the resumed checkpoint's).
        iteration: iterations done at the end.
        losses: training loss of every iteration run in this call, in order.
        checkpoint: the last checkpoint written (or restored).
        stopped_early: ``max_minutes`` ran out before ``niters`` (the run is resumable).
    """

    run_dir: Path
    start: int
    iteration: int
    losses: list[float] = field(default_factory=list)
    checkpoint: Path | None = None
    stopped_early: bool = False


def new_run_dir(logdir: str | os.PathLike) -> Path:
    """A fresh ``<logdir>/<YYYY-MM-DD_HHMMSS>/train`` (suffixed if the second is taken)."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
    base = Path(logdir) / stamp
    n = 1
    while base.exists():
        base = Path(logdir) / f"{stamp}_{n}"
        n += 1
    run = base / "train"
    run.mkdir(parents=True)
    return run


def make_optimizer(args: Args) -> keras.optimizers.Optimizer:
    """The release's optimizer: Adam (``lr``, ``beta1``, beta2 0.999, ``adam_epsilon``, 1e-8 as
    TF1's ``tf.train.AdamOptimizer``) with its learning-rate schedule (``lr * decay_rate **
    floor(iteration / decay_steps)``, TF1's staircase ``exponential_decay``).

    Keras' Adam applies the same update as TF1's (``m / (sqrt(v) + eps)`` with the bias
    corrections folded into the step size), and its ``iterations`` plays TF1's ``global_step``
    (beta powers ``beta ** (iterations + 1)`` at the next step)."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=args.lr, decay_steps=args.decay_steps,
        decay_rate=args.decay_rate, staircase=True)
    adam = keras.optimizers.Adam(learning_rate=schedule, beta_1=args.beta1, beta_2=0.999,
                                 epsilon=args.adam_epsilon)
    if resolve_precision(args.precision) == "float16":
        # float16's range is small: scale the loss (dynamically) so gradients do not underflow
        return keras.optimizers.LossScaleOptimizer(adam)
    return adam


def saved_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer whose variables a checkpoint holds: Adam itself, also under float16's
    loss scaling (its scale is not saved: it re-adapts), so checkpoints are the same in every
    precision."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the optimizer applies at its current iteration."""
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


def to_backend(batch: dict[str, Any]) -> dict[str, Any]:
    """Loader batches are TF tensors; other backends get numpy arrays (strings stay)."""
    if keras.backend.backend() == "tensorflow":
        return batch
    return {k: np.asarray(v) for k, v in batch.items()}


def compile_model(model: keras.Model, task: Task, args: Args,
                  optimizer: keras.optimizers.Optimizer) -> None:
    """Compile ``model`` for training: the task's loss over all time steps, Adam, XLA choice."""
    jit: str | bool = args.jit_compile if args.jit_compile == "auto" else args.jit_compile == "true"
    model.compile(optimizer=optimizer, loss=task.keras_loss, jit_compile=jit)
    optimizer.build(model.trainable_variables)


def _resolve_run(args: Args) -> tuple[Path, Path | None]:
    """(run directory, checkpoint to resume from or None)."""
    if args.ckpt:
        ckpt = resolve_checkpoint(args.ckpt, args.log)
        return ckpt.parent, ckpt
    if args.log:
        run = Path(args.log)
        if not run.is_dir():
            raise TrainingError(f"--log {run} is not a run directory")
        return run, latest_checkpoint(run)
    return new_run_dir(args.logdir), None


def train(args: Args, task: Task, progress: bool = True,
          on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train (or resume) a model; see the module docstring.

    Args:
        args: resolved arguments (niters, ckpt_iters, sum_iters, lr, ... and the data keys).
        task: :data:`training.tasks.VLSM_TASK` or :data:`training.tasks.DLSM_TASK`.
        progress: show a tqdm bar.
        on_step: called after every iteration with ``(iteration, loss)`` (tests, hooks).

    Returns:
        A :class:`TrainResult`.

    Raises:
        TrainingError: non-finite loss (nothing is saved for that iteration) or a bad run dir.
        training.checkpoint.CheckpointError: the checkpoint to resume is missing or mismatched.
        data.io.DataError: the data is missing or malformed (names the file).
    """
    from data.stream import make_loader

    run_dir, ckpt = _resolve_run(args)
    keras.utils.set_random_seed(args.rng_seed)
    if args.precision == "auto":
        prec, why = fast_precision()
        log.info("precision auto -> %s (%s)", prec, why)
    else:
        log.info("precision %s", args.precision)
    model = task.build_model(args)
    optimizer = make_optimizer(args)
    compile_model(model, task, args, optimizer)
    start = 0
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, saved_optimizer(optimizer))
        start = int(state["iteration"])
        log.info("resumed %s from %s (iteration %d)", task.kind, ckpt, start)
    else:
        save_args(args, run_dir / "args.json")
        log.info("new %s run in %s", task.kind, run_dir)
        if args.init_from:
            init = resolve_checkpoint(args.init_from)  # a checkpoint, or a run's latest
            source_args = read_json(init.parent / "args.json")
            copied, kept = copy_matching_weights(init, model, source_args)
            log.info("initialised %d of %d variables from %s (the other %d keep their "
                     "initialisation: %s)", len(copied), len(model.weights), init, len(kept),
                     ", ".join(kept[:4]) + (" ..." if len(kept) > 4 else ""))
    result = TrainResult(run_dir=run_dir, start=start, iteration=start, checkpoint=ckpt)
    if start >= args.niters:
        log.info("nothing to do: checkpoint iteration %d >= niters %d", start, args.niters)
        return result

    loader = make_loader(args, "train", with_depth=task.target == "depth")
    batches = loader.iterate(start)
    summaries = SummaryWriter(run_dir)
    t_start = time.monotonic()
    bar = tqdm(total=args.niters, initial=start, desc=f"train {task.kind}", unit="it",
               disable=not progress, dynamic_ncols=True)
    ema_loss = None
    try:
        for it in range(start + 1, args.niters + 1):
            batch = to_backend(next(batches))
            x, y = model_inputs(batch), task.keras_target(batch)
            t0 = time.perf_counter()
            logs = model.train_on_batch(x, y, return_dict=True)
            loss = float(logs["loss"])
            dt = time.perf_counter() - t0
            if not math.isfinite(loss):
                last = latest_checkpoint(run_dir)
                raise TrainingError(
                    f"loss is {loss} at iteration {it}; training stopped and nothing was saved "
                    f"for this iteration. Last good checkpoint: {last or 'none'}. Try a lower "
                    f"--lr, or resume with --ckpt {last.name if last else '<ckpt>'}.")
            result.losses.append(loss)
            result.iteration = it
            ema_loss = loss if ema_loss is None else 0.9 * ema_loss + 0.1 * loss
            bar.set_postfix(loss=f"{ema_loss:.4f}", refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step(it, loss)
            summaries.scalars(it, {"loss": loss, "learning_rate": current_lr(optimizer),
                                   "step_time_s": dt})
            if it % args.sum_iters == 0 or it == start + 1:
                pred = model.predict_on_batch(x)
                metrics = task.metrics(batch, pred, tuple(args.eval_thresh))
                summaries.scalars(it, {f"train/{k}": v
                                       for k, v in task.scalar_summaries(metrics).items()})
                summaries.images(it, task.image_summaries(batch, pred))
                summaries.flush()
            out_of_time = (args.max_minutes > 0
                           and time.monotonic() - t_start > 60.0 * args.max_minutes)
            if it % args.ckpt_iters == 0 or it == args.niters or out_of_time:
                result.checkpoint = save_checkpoint(
                    run_dir, it, model, saved_optimizer(optimizer),
                    state={"data_step": it, "rng_seed": args.rng_seed, "task": task.kind})
            if out_of_time and it < args.niters:
                result.stopped_early = True
                log.info("max_minutes %.1f reached at iteration %d: saved %s; resume with "
                         "--log %s", args.max_minutes, it, result.checkpoint.name, run_dir)
                break
        else:
            write_json(run_dir / FINISHED, {"iteration": result.iteration,
                                            "checkpoint": result.checkpoint.name
                                            if result.checkpoint else None})
    finally:
        bar.close()
        summaries.close()
    return result


def load_trained(args: Args, task: Task, run_dir: str | os.PathLike | None,
                 ckpt: str | os.PathLike | None) -> tuple[keras.Model, Path]:
    """Build the model of a run and restore a checkpoint (for val/test/demos), computing in
    :func:`eval_precision`.

    Args:
        args: the run's arguments (``<run>/args.json``, plus overrides).
        task: the task.
        run_dir: the run's log directory (where checkpoint names are looked up).
        ckpt: checkpoint name, number or folder; None means the run's latest.

    Raises:
        training.checkpoint.CheckpointError: missing or mismatched checkpoint (both named).
    """
    path = resolve_checkpoint(ckpt if ckpt is not None else run_dir, run_dir)
    # evaluation computes in float32 unless a precision was asked for: "auto" (the training
    # default, and what a run or shipped folder without the key says) is float32 here
    model = task.build_model(args, eval_precision(args))
    load_checkpoint(path, model)
    return model, path


def eval_precision(args: Args) -> str:
    """The precision val, test and the demos compute in: ``args.precision``, with ``"auto"``
    meaning float32 (so that recorded tables reproduce on any machine)."""
    return "float32" if args.precision == "auto" else args.precision


def read_finished(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's ``finished.json`` (None while it is still training)."""
    p = Path(run_dir) / FINISHED
    return json.loads(p.read_text()) if p.exists() else None
