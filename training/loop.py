"""The one training loop of the project, shared by V-LSM and D-LSM.

``train(args, task)``:

* makes a run directory ``<logdir>/<timestamp>/train`` holding ``args.json`` (the resolved
  arguments), or resumes one (``--ckpt`` names a checkpoint; ``--log`` a run or its parent,
  whose newest *intact* checkpoint is used: broken ones are named and skipped, and a run is
  never started over while it holds checkpoints); a resume keeps the run's arguments (a changed
  image size, grid or network is refused: the resume rule of :attr:`config.Key.resume`); a lock
  (:class:`training.runs.RunLock`) keeps a second trainer out of a run;
* first joins the run's processes and sets the distribution (:mod:`training.distribute`:
  data parallel over all devices on JAX when there are several, or several processes); in a
  multi-process run process 0 resolves, locks and writes the run, every process reads its part
  of each global batch and restores the same checkpoint, and all stop at the same iteration;
* builds the model, Adam (``lr``, ``beta1``) with the release's staircase exponential decay
  (``decay_rate`` every ``decay_steps``), compiles the training step (``tf.function`` or
  ``jax.jit`` through Keras, XLA if ``jit_compile``);
* reads the training stream of :func:`data.loaders.make_loader` (tf.data, or numpy threads where
  TensorFlow is missing) from the checkpoint's position, so a resumed run sees exactly the
  batches the uninterrupted run would have seen;
* writes TensorBoard scalars (loss, learning rate, step time, metrics per number of views) and
  pictures every ``sum_iters``, shows a tqdm bar with loss and it/s, and saves
  ``mvnet-<iteration>`` every ``ckpt_iters`` and at the end (atomically);
* stops at a non-finite loss, or at weights that are not finite or have exploded (checked
  before every checkpoint), with a clear message, without saving the broken weights: the last
  good checkpoint stays the newest; warns when the loss diverges;
* on SIGINT (Ctrl-C) or SIGTERM (what cluster schedulers send before killing) finishes the
  iteration in progress, saves a checkpoint there and stops (a second Ctrl-C stops at once);
* a new run that fails before its first training step leaves no folder behind;
* with ``max_minutes``, stops after that much wall time with a checkpoint (no ``finished.json``:
  the run is resumable with ``--log``), for time-limited machines and cluster jobs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm import tqdm

from config import KEYS, keys_of
from data.io import read_json, write_json
from training import distribute
from training.checkpoint import (
    CheckpointError,
    checkpoint_path,
    copy_matching_weights,
    latest_intact_checkpoint,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from training.config import Args, ConfigError, load_args, save_args
from training.precision import fast_precision, resolve_precision
from training.runs import (
    ARGS_FILE,
    RunLock,
    find_run,
    remove_if_unused,
    remove_stale_temporaries,
)
from training.summaries import SummaryWriter
from training.tasks import Task, model_inputs, model_name, task_for

log = logging.getLogger(__name__)

#: File a finished run writes into its directory (validation watchers stop when they see it).
FINISHED = "finished.json"


#: The resume rule of every argument is the table's (:attr:`config.Key.resume`): keys of rule
#: "keep" (image size, grid, networks, batch, data, seed, loss) must match the run's
#: ``args.json``; "change" ones (niters, how often to save, the input pipeline's threads, the
#: compute precision, the optimiser, evaluation settings...) may be given anew (logged, and
#: recorded in ``args.json``); "call" ones describe one invocation (never compared, never
#: recorded on a resume); "process" ones, one process's place in a multi-process run, are
#: never recorded (``args.json`` keeps their defaults, so that ``--log RUN`` resumes on any
#: number of processes).
_PER_CALL = frozenset(keys_of(resume="call"))
_PROCESS_KEYS = {name: KEYS[name].default for name in keys_of(resume="process")}


def _recorded(args: Args) -> Args:
    """``args`` as a run's ``args.json`` records them (without :data:`_PROCESS_KEYS`)."""
    return args.replace(**_PROCESS_KEYS)
#: The loss counts as diverging when its running mean exceeds its best by this factor.
DIVERGENCE_FACTOR = 100.0


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says what to do."""


class Interrupted(TrainingError):
    """Training stopped on a signal; the message names the run, the iteration and the
    checkpoint saved. ``exit_code`` is 128 + the signal number (130 for Ctrl-C)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


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
        diverged: the loss diverged (see :data:`DIVERGENCE_FACTOR`); a warning was logged.
    """

    run_dir: Path
    start: int
    iteration: int
    losses: list[float] = field(default_factory=list)
    checkpoint: Path | None = None
    stopped_early: bool = False
    diverged: bool = False


def new_run_dir(logdir: str | os.PathLike, args: Args | None = None) -> Path:
    """A fresh ``<logdir>/<YYYY-MM-DD_HHMMSS>/train`` (suffixed if the second is taken).

    With ``args``, the run is created holding its ``args.json`` in one step: assembled in a
    temporary dot-folder and renamed into place, so a kill at any moment leaves either no run
    or a run that ``--log`` resumes.
    """
    stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
    Path(logdir).mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        base = Path(logdir) / (stamp if n == 1 else f"{stamp}_{n}")
        n += 1
        if base.exists():
            continue
        if args is None:
            try:
                (base / "train").mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                continue
            return base / "train"
        tmp = base.parent / f".{base.name}.tmp-{os.getpid()}"
        (tmp / "train").mkdir(parents=True, exist_ok=True)
        save_args(_recorded(args), tmp / "train" / ARGS_FILE)
        try:
            os.rename(tmp, base)  # fails if another process took the name meanwhile
        except OSError:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            continue
        return base / "train"


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


def _resolve_run(args: Args) -> tuple[Path, Path | None, bool]:
    """(run directory, checkpoint to resume from or None, whether the run is new)."""
    if args.ckpt:
        base = find_run(args.log) if args.log else None
        ckpt = resolve_checkpoint(args.ckpt, base)
        verify_checkpoint(ckpt)  # asked for by name: a broken one is an error, not a fallback
        return ckpt.parent, ckpt, False
    if args.log:
        run = find_run(args.log)
        ckpt, skipped = latest_intact_checkpoint(run)
        for path, why in skipped:
            log.warning("skipping broken checkpoint %s: %s (left on disk)", path, why)
        if ckpt is None and skipped:
            why = "; ".join(f"{p.name}: {w}" for p, w in skipped)
            raise TrainingError(
                f"run {run} has no intact checkpoint ({why}); "
                "nothing was changed. Restore a checkpoint, or start a new run with --logdir "
                f"(--init_from can warm-start it from another run).")
        if ckpt is None:
            log.info("run %s has no checkpoint yet: starting it from iteration 0", run)
        return run, ckpt, False
    return new_run_dir(args.logdir, args), None, True


def _check_resume_args(args: Args, run_dir: Path) -> None:
    """Compare a resume's arguments with the run's ``args.json``: refuse changes of keys whose
    resume rule is "keep" (:attr:`config.Key.resume`), record allowed ones (logged) in
    ``args.json``. A key the file lacks (a run older than the key) whose default is null
    (e.g. ``model``: the script's own; also a recorded ``model: null``) is taken from this call."""
    path = run_dir / ARGS_FILE
    if not path.is_file():
        log.warning("run %s has no %s: writing the arguments of this resume", run_dir,
                    ARGS_FILE)
        save_args(_recorded(args).replace(**{k: None for k in _PER_CALL}), path)
        return
    try:
        recorded = load_args(path).to_dict()
    except ConfigError as e:
        raise TrainingError(f"cannot resume run {run_dir}: {e}") from None
    given = args.to_dict()
    changed = {k: (recorded[k], given[k]) for k in given
               if k not in _PER_CALL and k not in _PROCESS_KEYS and recorded.get(k) != given[k]}
    raw = {k: v for k, v in read_json(path).items() if v is not None or k != "model"}
    unset = {k for k in changed if KEYS[k].default is None and k not in raw}
    refused = {k: v for k, v in changed.items() if KEYS[k].resume == "keep" and k not in unset}
    if refused:
        shown = ", ".join(f"--{k} {json.dumps(new)} (the run has {json.dumps(old)})"
                          for k, (old, new) in refused.items())
        raise TrainingError(
            f"cannot resume run {run_dir} with {shown}: a run keeps the arguments it started "
            f"with ({path}). Drop the flag(s), or start a new run with --logdir (and "
            f"--init_from {run_dir} to warm-start it).")
    if changed:
        log.info("resume changes %s in %s", ", ".join(
            f"{k} {json.dumps(old)} -> {json.dumps(new)}" for k, (old, new) in changed.items()),
            path)
        updated = load_args(path, {k: new for k, (_, new) in changed.items()})
        origin = read_json(path).get("argsjs")  # the file the run started from, kept
        save_args(updated.replace(argsjs=origin), path)


class DivergenceWatch:
    """Tells when a training loss diverges: its running mean (``ema``, factor 0.9 per
    iteration) exceeds :data:`DIVERGENCE_FACTOR` times the lowest running mean seen after a
    warm-up of ``warmup`` iterations (``best``)."""

    def __init__(self, warmup: int = 10) -> None:
        self.warmup, self.count = warmup, 0
        self.ema, self.best = math.nan, math.inf

    def update(self, loss: float) -> bool:
        """Add one iteration's loss; True while the loss is diverging."""
        self.count += 1
        self.ema = loss if self.count == 1 else 0.9 * self.ema + 0.1 * loss
        if self.count <= self.warmup:
            return False
        self.best = min(self.best, self.ema)
        return self.ema > DIVERGENCE_FACTOR * self.best


class _SignalStop:
    """SIGINT/SIGTERM handlers for the training loop: the first signal asks the loop to stop
    after the iteration in progress (with a checkpoint); a second Ctrl-C stops at once.
    Installed only in the main thread; the previous handlers come back on :meth:`restore`."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("%s received: finishing this iteration, saving a checkpoint and stopping "
                    "(Ctrl-C again stops at once, without a checkpoint)",
                    signal.Signals(signum).name)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}


def train(args: Args, task: Task | None = None, progress: bool = True,
          on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train (or resume) a model; see the module docstring.

    Args:
        args: resolved arguments (niters, ckpt_iters, sum_iters, lr, ... and the data keys).
        task: the task of the model to train (:func:`training.tasks.task_for`, e.g.
            :data:`training.tasks.VLSM_TASK`); None: the task of the model ``args`` names (its
            key ``model``). The task's model is the one trained, and the one the run records.
        progress: show a tqdm bar.
        on_step: called after every iteration with ``(iteration, loss)`` (tests, hooks).

    Returns:
        A :class:`TrainResult`.

    Raises:
        TrainingError: non-finite loss or weights (nothing is saved for that iteration), a
            checkpoint that cannot be written (e.g. a full disk), a resume with changed
            arguments or without an intact checkpoint; :class:`Interrupted` after a signal.
        training.runs.RunError: ``--log`` is not a run, or another trainer holds it.
        training.checkpoint.CheckpointError: the checkpoint to resume is missing, broken or
            mismatched.
        data.io.DataError: the data is missing or malformed (names the file).
        training.config.ConfigError: a distribution the backend or the device count cannot
            serve (see :func:`training.distribute.setup`).
        training.distribute.PeerError: another process of the run failed or died (named).
    """
    if task is None:
        task = task_for(model_name(args))
    if getattr(args, "model", task.kind) != task.kind:
        args = args.replace(model=task.kind)  # args.json records the model trained
    cluster = distribute.setup(args)  # before anything touches a device
    peers = distribute.Peers(cluster)
    try:
        return _train_in_run(args, task, cluster, peers, progress, on_step)
    except BaseException as e:
        if not isinstance(e, (Interrupted, KeyboardInterrupt, distribute.PeerError)):
            peers.post_failure(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        raise
    finally:
        peers.close()
        distribute.teardown()


def _start_run(args: Args, peers: distribute.Peers) -> tuple[Path, Path | None, bool, RunLock]:
    """Process 0: resolve the run (see :func:`_resolve_run`), lock it, check a resume's
    arguments, and tell the other processes the run folder and checkpoint (or why not)."""
    lock = None
    try:
        run_dir, ckpt, created = _resolve_run(args)
        lock = RunLock(run_dir).acquire()
        if not created:
            remove_stale_temporaries(run_dir)
            _check_resume_args(args, run_dir)
    except BaseException as e:
        if lock is not None:
            lock.release()
        peers.share({"error": str(e)})
        raise
    peers.share({"run_dir": str(run_dir), "ckpt": None if ckpt is None else str(ckpt)})
    return run_dir, ckpt, created, lock


def _train_in_run(args: Args, task: Task, cluster: distribute.Cluster, peers: distribute.Peers,
                  progress: bool, on_step: Callable[[int, float], None] | None) -> TrainResult:
    """:func:`train` once the processes have met: process 0 holds the run (lock, new folder
    removed again if nothing was trained), the others follow it."""
    lock, created = None, False
    if cluster.chief:
        run_dir, ckpt, created, lock = _start_run(args, peers)
    else:
        got = peers.share()
        if "error" in got:
            raise TrainingError(f"process 0 could not start the run: {got['error']}")
        run_dir = Path(got["run_dir"])
        ckpt = None if got["ckpt"] is None else Path(got["ckpt"])
    result = TrainResult(run_dir=run_dir, start=0, iteration=0, checkpoint=ckpt)
    try:
        _train(args, task, result, created, progress and cluster.chief, on_step, cluster, peers)
    except BaseException as e:
        if lock is not None:
            lock.release()
        if created and not result.losses and remove_if_unused(run_dir):
            log.info("removed the new run folder %s (nothing was written to it)", run_dir)
        if isinstance(e, KeyboardInterrupt):  # before the loop's own handlers were installed
            raise Interrupted(f"interrupted before training started (run {run_dir}"
                              f"{'' if run_dir.exists() else ', removed'})",
                              signal.SIGINT) from None
        raise
    if lock is not None:
        lock.release()
    return result


class _NoSummaries:
    """The summaries of a process that writes none (not process 0)."""

    def scalars(self, step: int, values: dict[str, float]) -> None:
        pass

    def images(self, step: int, values: dict[str, np.ndarray]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _train(args: Args, task: Task, result: TrainResult, created: bool, progress: bool,
           on_step: Callable[[int, float], None] | None, cluster: distribute.Cluster,
           peers: distribute.Peers) -> None:
    """The body of :func:`train`, inside the run's lock; fills ``result``. Every process of a
    multi-process run runs it; only process 0 writes files."""
    from data.loaders import LoaderConfig, make_loader

    run_dir, ckpt = result.run_dir, result.checkpoint
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
        if created:
            log.info("new %s run in %s", task.kind, run_dir)
        if args.init_from:
            init = resolve_checkpoint(args.init_from)  # a checkpoint, or a run's latest
            source_args = read_json(init.parent / "args.json")
            copied, kept = copy_matching_weights(init, model, source_args)
            log.info("initialised %d of %d variables from %s (the other %d keep their "
                     "initialisation: %s)", len(copied), len(model.weights), init, len(kept),
                     ", ".join(kept[:4]) + (" ..." if len(kept) > 4 else ""))
    result.start = result.iteration = start
    if start >= args.niters:
        log.info("nothing to do: checkpoint iteration %d >= niters %d", start, args.niters)
        return

    def last_good() -> str:
        path, _ = latest_intact_checkpoint(run_dir)
        return str(path) if path is not None else "none"

    def save(it: int) -> Path:
        state = {"data_step": it, "rng_seed": args.rng_seed, "task": task.kind}
        try:
            if cluster.chief:
                return save_checkpoint(run_dir, it, model, saved_optimizer(optimizer), state)
            # Reading replicated weights out is a collective under jax.distributed: the other
            # processes go through the same save, into a scratch folder they then delete.
            with tempfile.TemporaryDirectory(prefix="lsm-peer-save-") as scratch:
                save_checkpoint(scratch, it, model, saved_optimizer(optimizer), state)
            return checkpoint_path(run_dir, it)
        except CheckpointError as e:
            raise TrainingError(
                f"training diverged by iteration {it}: {e}. Nothing was saved for it; last "
                f"good checkpoint: {last_good()}. Resume from it with --log {run_dir} and a "
                "lower --lr.") from None
        except OSError as e:
            raise TrainingError(
                f"could not write checkpoint mvnet-{it} in {run_dir}: "
                f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}. Nothing "
                f"half-written was left; the newest checkpoint is {last_good()}. Free some "
                f"space, then resume with --log {run_dir}.") from None

    config = LoaderConfig.from_args(args).replace(**cluster.loader_shards())
    loader = make_loader(config, "train", with_depth=task.target == "depth")
    batches = loader.iterate(start)
    summaries = SummaryWriter(run_dir) if cluster.chief else _NoSummaries()
    t_start = time.monotonic()
    bar = tqdm(total=args.niters, initial=start, desc=f"train {task.kind}", unit="it",
               disable=not progress, dynamic_ncols=True)
    watch = DivergenceWatch()
    stop = _SignalStop()
    it = start
    try:
        for it in range(start + 1, args.niters + 1):
            batch = to_backend(next(batches))
            x, y = model_inputs(batch), task.keras_target(batch)
            t0 = time.perf_counter()
            logs = model.train_on_batch(x, y, return_dict=True)
            loss = float(logs["loss"])
            dt = time.perf_counter() - t0
            if not math.isfinite(loss):
                raise TrainingError(
                    f"loss is {loss} at iteration {it}; training stopped and nothing was saved "
                    f"for this iteration. Last good checkpoint: {last_good()}. Try a lower "
                    f"--lr: resume from it with --log {run_dir} --lr <lower>.")
            result.losses.append(loss)
            result.iteration = it
            if watch.update(loss) and not result.diverged:
                result.diverged = True
                log.warning("the loss is diverging: its running mean is %.4g at iteration %d, "
                            "%.0fx its best (%.4g); training goes on (weights are checked "
                            "before each checkpoint), but consider a lower --lr",
                            watch.ema, it, watch.ema / watch.best, watch.best)
            bar.set_postfix(loss=f"{watch.ema:.4f}", refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step(it, loss)
            summaries.scalars(it, {"loss": loss, "learning_rate": current_lr(optimizer),
                                   "step_time_s": dt})
            if it % args.sum_iters == 0 or it == start + 1:
                pred = model.predict_on_batch(x)  # every process: a collective
                if cluster.chief:  # the metrics of process 0's part of the batch
                    metrics = task.metrics(batch, pred, tuple(args.eval_thresh))
                    summaries.scalars(it, {f"train/{k}": v
                                           for k, v in task.scalar_summaries(metrics).items()})
                    summaries.images(it, task.image_summaries(batch, pred))
                    summaries.flush()
            out_of_time = (args.max_minutes > 0
                           and time.monotonic() - t_start > 60.0 * args.max_minutes)
            if cluster.multi_process:  # all processes stop at the same iteration
                signalled, out_of_time = peers.any_of(stop.signum is not None, out_of_time)
                if signalled and stop.signum is None:
                    stop.signum = signal.SIGTERM  # another process was signalled
            if (it % args.ckpt_iters == 0 or it == args.niters or out_of_time
                    or stop.signum is not None):
                result.checkpoint = save(it)
            if stop.signum is not None:
                name = signal.Signals(stop.signum).name
                raise Interrupted(f"stopped by {name} at iteration {it} of run {run_dir}: "
                                  f"saved {result.checkpoint}; resume with --log {run_dir}",
                                  stop.signum)
            if out_of_time and it < args.niters:
                result.stopped_early = True
                log.info("max_minutes %.1f reached at iteration %d: saved %s; resume with "
                         "--log %s", args.max_minutes, it, result.checkpoint.name, run_dir)
                break
        else:
            if cluster.chief:
                write_json(run_dir / FINISHED, {"iteration": result.iteration,
                                                "checkpoint": result.checkpoint.name
                                                if result.checkpoint else None})
    except Exception as e:
        why = (peers.explain_failure()
               if cluster.multi_process and distribute.is_peer_failure(e) else None)
        if why is not None:  # else the error is this process's own: raised as it is
            raise distribute.PeerError(
                f"{why}; process {cluster.process_id} of "
                f"{cluster.num_processes} stopped at iteration {it}. The newest checkpoint is "
                f"{last_good()}: resume with --log {run_dir} (on any number of processes)"
            ) from None
        raise
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted at iteration {it} of run {run_dir} (second Ctrl-C: "
                          f"no checkpoint for it); the newest checkpoint is {last_good()}; "
                          f"resume with --log {run_dir}", signal.SIGINT) from None
    finally:
        stop.restore()
        bar.close()
        summaries.close()


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
