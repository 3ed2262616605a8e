"""Entry points of the six scripts (voxels/*_vlsm.py, depth/*_dlsm.py): train, val and test.

The scripts only call these with their task name, so V-LSM and D-LSM share every line of
argument handling, training, validation and testing.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from config import keys_of
from data.io import DataError, read_json, write_json
from training.config import Args, ConfigError, load_args, parse_cli, schema
from training.host_memory import restart_with_huge_pages
from training.quiet import quiet_tensorflow_import
from training.runs import (
    CheckpointError,
    RunError,
    checkpoint_dirs,
    find_run,
    list_checkpoints,
)

if TYPE_CHECKING:
    from training.tasks import Task

log = logging.getLogger("lsm")


def _task(kind: str, args: Args) -> Task | None:
    """The task of the model ``args`` names (its key ``model``; the script's model ``kind``
    without it), picked by the model's head (imports Keras and the backend, quietly: only after
    the arguments are parsed, so ``--help`` and argument errors come at once). None, after one
    error line, when that model has another head than the script's (a voxel model given to a
    ``depth/`` script, or a depth model to a ``voxels/`` script)."""
    quiet_tensorflow_import()
    from models.registry import model_head
    from training.tasks import model_name, task_for

    name = model_name(args, kind)
    head, wanted = model_head(name), model_head(kind)
    if head != wanted:
        _fail(f"model {name!r} predicts {head}, but this script trains and evaluates {wanted} "
              f"models: use the {'voxels' if head == 'voxels' else 'depth'}/ scripts")
        return None
    return task_for(name)


def _not_taken_by(script: str) -> frozenset[str]:
    """The arguments a script does not take (the table's ``scripts`` rule,
    :data:`config.KEYS`): left out of its ``--help``. Training still records the eval-only
    ones in the run's ``args.json`` (which val and test read); val and test warn when given a
    training-only one."""
    return frozenset(schema()) - frozenset(keys_of(script=script))


def _setup_logging(args: Args) -> None:
    logging.basicConfig(level=getattr(logging, args.loglevel.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", force=True)


def _fail(msg: str) -> int:
    log.error("%s", msg)
    return 1


def _release_argv(argv: Sequence[str] | None, kind: str, purpose: str) -> list[str] | None:
    """``argv`` with a release model folder given as ``--log`` replaced by its conversion
    (:func:`training.release.redirect_argv`); None (after one error line) if it cannot be
    converted."""
    from training.release import ReleaseError, redirect_argv

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s", datefmt="%H:%M:%S")  # --loglevel applies after this
    try:
        return redirect_argv(argv, kind, purpose)
    except ReleaseError as e:
        _fail(str(e))
        return None


def _eval_cli(kind: str, argv: Sequence[str] | None, what: str, split: str,
              extra: Any) -> tuple[Task | None, Args, argparse.Namespace, Path | None]:
    """Shared start of the val and test scripts: arguments, logging, the run directory, then
    the task (which loads the backend: after the arguments are checked).

    Returns the task and run directory as None (after logging why) when ``--log`` is missing
    or is not a run.
    """
    argv = _release_argv(argv, kind, "eval")
    if argv is None:
        return None, load_args(None, {}), argparse.Namespace(), None
    args, ns = parse_cli(argv, description=f"{what} a {kind.upper()} run (or a release model "
                         "folder, converted on the fly).", defaults={"split": split, "model": kind},
                         extra=extra, hide=_not_taken_by("eval"), unused=_not_taken_by("eval"))
    _setup_logging(args)
    if not any(t == "--precision" or t.startswith("--precision=") for t in (argv or [])):
        # evaluation computes in float32 unless asked: recorded tables reproduce on any machine
        args = args.replace(precision="float32")
    if not args.log:
        _fail("--log RUN_DIR is required (the training run's log directory)")
        return None, args, ns, None
    try:
        run_dir = find_run(args.log)
    except RunError as e:
        _fail(str(e))
        return None, args, ns, None
    return _task(kind, args), args, ns, run_dir


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------
def train_main(kind: str, argv: Sequence[str] | None = None) -> int:
    """``python voxels/train_vlsm.py --argsjs args/args_vlsm.json [--key value ...]``."""
    argv = _release_argv(argv, kind, "train")
    if argv is None:
        return 1
    args, _ = parse_cli(argv, description=f"Train a {kind.upper()} (see README); --log with a "
                        "release model folder continues it in a new run.",
                        defaults={"loss": "ce" if kind == "vlsm" else "l1", "model": kind},
                        hide=_not_taken_by("train"))
    _setup_logging(args)
    task = _task(kind, args)
    if task is None:
        return 1
    from training.distribute import PeerError
    from training.loop import Interrupted, TrainingError, train

    try:
        res = train(args, task)
    except Interrupted as e:
        log.warning("%s", e)
        return e.exit_code
    except (TrainingError, CheckpointError, DataError, RunError, PeerError, ConfigError) as e:
        return _fail(str(e))
    except OSError as e:  # the file system (e.g. a full disk) outside the checkpoint writes
        where = f" ({e.filename})" if e.filename else ""
        return _fail(f"{e.strerror or e}{where}; checkpoints already saved are intact: "
                     "free space or fix the path, then resume with --log RUN")
    if res.diverged:
        log.warning("done, but the loss diverged during training (see the warning above): "
                    "%d iterations in %s; last checkpoint %s", res.iteration, res.run_dir,
                    res.checkpoint)
        return 0
    log.info("done: %d iterations in %s; last checkpoint %s", res.iteration, res.run_dir,
             res.checkpoint)
    return 0


# --------------------------------------------------------------------------------------------
# test
# --------------------------------------------------------------------------------------------
def _test_extra(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save_preds", type=int, default=0, metavar="N",
                   help="save predictions (grids as .npz and meshes as .ply/.obj, or depth maps "
                        "and fused point clouds) for one model of each of the first N classes")
    p.add_argument("--contact_sheet", type=int, default=0, metavar="N",
                   help="write a PNG contact sheet of inputs, predictions after 1..V views and "
                        "ground truth for one model of each of the first N classes")
    p.add_argument("--no_hull", action="store_true", help="skip the visual hull baseline")


#: The file that marks a shipped model folder (scripts/ship_model.py writes it): the test script
#: writes nothing into such a folder (nor below it) unless --savedir or --result_file say so.
SHIPPED_MARKER = "shipped.json"


def result_tag(data_root: str, split_file: str) -> str:
    """A short, filesystem-safe name for a data root and split file: ``full-splits`` for
    ``datasets/full`` and ``data/splits.json`` (a part longer than 32 characters is cut and
    gets 6 hex digits of its hash)."""
    parts = []
    for part in (Path(os.path.abspath(data_root)).name or "root", Path(split_file).stem or "split"):
        safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", part)
        if len(safe) > 32:
            safe = f"{safe[:25]}~{hashlib.sha1(part.encode()).hexdigest()[:6]}"
        parts.append(safe)
    return "-".join(parts)


def _results_place(args: Args, run_dir: Path, ckpt: Path) -> tuple[Path, str]:
    """Where a test run writes, and the name its files share (see README, "test results").

    The folder is ``--savedir`` if given; else ``results/<model folder name>`` under the
    current directory when the run folder is (in) a shipped model folder (it or a folder above
    holds :data:`SHIPPED_MARKER`); else the run folder. The name is
    ``<ckpt>_<split>_<tag>`` (tag: :func:`result_tag`), then ``_2``, ``_3``, ... : the first
    for which none of ``test_<name>.txt/.json``, ``preds_<name>/``, ``sheet_<name>.png`` exists
    there, so a test never overwrites a recorded table.
    """
    shipped = next((d for d in (run_dir.resolve(), *run_dir.resolve().parents)
                    if (d / SHIPPED_MARKER).is_file()), None)
    if args.savedir:
        folder = Path(args.savedir)
    elif shipped is not None:
        folder = Path("results") / shipped.name
        log.info("%s is a shipped model (%s): results go to %s", shipped, SHIPPED_MARKER,
                 folder.resolve())
    else:
        folder = run_dir
    tag = result_tag(args.data_root, args.split_file_for(args.split))
    base = f"{ckpt.name}_{args.split}_{tag}"
    name, n = base, 1
    while any((folder / f).exists() for f in (f"test_{name}.txt", f"test_{name}.json",
                                             f"preds_{name}", f"sheet_{name}.png")):
        n += 1
        name = f"{base}_{n}"
    if n > 1:
        log.info("%s/test_%s.* exists: this run's files are named %s", folder, base, name)
    return folder, name


def _trained_classes(args: Args) -> frozenset[str] | None:
    """Classes of the training split the run was trained on (its ``split_file``), or None
    when that file cannot be read (then no seen / unseen means are reported)."""
    from data.io import read_splits

    try:
        return frozenset(c for c, ids in read_splits(args.split_file)["train"].items() if ids)
    except (DataError, OSError, KeyError) as e:
        log.info("no seen/unseen class means: the training split %s cannot be read (%s)",
                 args.split_file, e)
        return None


def test_main(kind: str, argv: Sequence[str] | None = None) -> int:
    """``python voxels/test_vlsm.py --log RUN --ckpt mvnet-N --test_split_file FILE``."""
    task, args, extra, run_dir = _eval_cli(kind, argv, "Test", "test", _test_extra)
    if task is None or run_dir is None:
        return 1
    from training.evaluate import evaluate
    from training.loop import load_trained
    stem = re.sub(r"\.(txt|json)$", "", args.result_file) if args.result_file else None
    if stem and any(Path(stem + s).exists() for s in (".txt", ".json")):
        return _fail(f"--result_file {args.result_file}: {stem}.txt or {stem}.json exists; "
                     "results never overwrite a table (give a new name, or remove it)")
    try:
        model, ckpt = load_trained(args, task, run_dir, args.ckpt)
    except (CheckpointError, DataError) as e:
        return _fail(str(e))
    folder, name = _results_place(args, run_dir, ckpt)
    saver = _PredictionSaver(task, folder / f"preds_{name}", extra.save_preds,
                             extra.contact_sheet, args)
    try:
        res = evaluate(args, task, model, args.split, with_hull=not extra.no_hull,
                       on_batch=saver)
    except DataError as e:
        return _fail(str(e))
    saver.finish()
    res.seen = _trained_classes(args)
    tables = [res.table(t) for t in range(len(res.thresholds))]
    if res.clouds is not None:
        tables.append(res.cloud_table())
    text = f"{task.kind.upper()} {ckpt} on {args.split_file_for(args.split)} ({args.split})\n\n"
    text += "\n\n".join(tables)
    print(text)
    stem = stem or str(folder / f"test_{name}")
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(stem + ".txt", "x") as f:  # "x": never overwrite, even a table just written
            f.write(text + "\n")
    except FileExistsError:
        return _fail(f"{stem}.txt appeared while testing; not overwritten (run again)")
    out = res.to_json()
    out.update({"checkpoint": str(ckpt), "split_file": args.split_file_for(args.split),
                "split": args.split, "data_root": args.data_root,
                "views": args.test_im_batch})
    import keras

    from training.loop import eval_precision
    from training.records import provenance  # command, code version, machine: see RESULTS.md
    out["provenance"] = provenance(
        None if argv is None else f"training.cli.test_main({kind!r}, {list(argv)!r})",
        backend=keras.backend.backend(), precision=eval_precision(args))
    write_json(stem + ".json", out)
    log.info("results written to %s.txt and %s.json", stem, stem)
    return 0


class _PredictionSaver:
    """Saves predictions and contact sheets during a test run (see ``--save_preds``)."""

    def __init__(self, task: Task, folder: Path, n_preds: int, n_sheet: int,
                 args: Args) -> None:
        self.task, self.folder, self.n_preds, self.n_sheet = task, folder, n_preds, n_sheet
        self.args = args
        self.classes: set[Any] = set()
        self.sheet: list[dict[str, Any]] = []

    def __call__(self, batch: dict[str, Any], pred: Any) -> None:
        b = np.asarray(batch["images"]).shape[0]
        pred = np.asarray(pred)
        for i in range(b):
            item = {key: np.asarray(v)[i] for key, v in batch.items()}
            synset = item["synset"]
            if synset in self.classes:  # one model per class: the first of each in split order
                continue
            self.classes.add(synset)
            if len(self.classes) <= self.n_preds:
                self.task.save_prediction(item, pred[i], self.folder)
            if len(self.classes) <= self.n_sheet:
                self.sheet.append({"item": item, "pred": pred[i]})

    def finish(self) -> None:
        if self.sheet:
            path = self.folder.with_name(f"sheet_{self.folder.name.removeprefix('preds_')}.png")
            self.task.contact_sheet(self.sheet, path)
            log.info("contact sheet: %s", path)
        if self.n_preds:
            log.info("predictions saved in %s", self.folder)


# --------------------------------------------------------------------------------------------
# val
# --------------------------------------------------------------------------------------------
def _val_extra(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true",
                   help="evaluate the checkpoints present now and exit")
    p.add_argument("--poll_seconds", type=float, default=None,
                   help="seconds between checks for new checkpoints (default: sleep_time min)")


def val_main(kind: str, argv: Sequence[str] | None = None) -> int:
    """``python voxels/val_vlsm.py --log RUN [--val_split_file FILE] [--once]``.

    Evaluates every checkpoint of the run that has not been validated yet, writes the curves
    (``val/...`` per number of views) into the run's TensorBoard log at the checkpoint's
    iteration, and exits when training has finished and all checkpoints are done.
    """
    task, args, extra, run_dir = _eval_cli(kind, argv, "Validate the checkpoints of", "val",
                                           _val_extra)
    if task is None or run_dir is None:
        return 1
    from training.evaluate import evaluate
    from training.loop import load_trained, read_finished
    from training.summaries import SummaryWriter
    done_file = run_dir / "val_done.json"
    done: dict[str, Any] = read_json(done_file) if done_file.exists() else {}
    writer = SummaryWriter(run_dir / "val")
    poll = extra.poll_seconds if extra.poll_seconds is not None else 60.0 * args.sleep_time
    failed: dict[str, str] = {}
    waiting_logged = False
    try:
        while True:
            finished = read_finished(run_dir) is not None
            todo = [(it, p) for it, p in list_checkpoints(run_dir)
                    if p.name not in done and p.name not in failed]
            for it, path in todo:
                try:  # load_checkpoint verifies the recorded sizes and checksums
                    model, _ = load_trained(args, task, run_dir, path)
                except CheckpointError as e:
                    failed[path.name] = str(e)
                    log.warning("skipping %s: %s", path, e)
                    continue
                res = evaluate(args, task, model, "val", with_hull=False)
                curve = res.mean()
                scale = 100.0 if res.metric == "iou" else 1.0
                writer.scalars(it, {f"val/{res.metric}/{k + 1}_views": float(val * scale)
                                    for k, val in enumerate(curve)})
                writer.flush()
                done[path.name] = [float(x * scale) for x in curve]
                write_json(done_file, done)
                log.info("%s: val %s per views %s", path.name, res.metric,
                         ", ".join(f"{x * scale:.2f}" for x in curve))
                waiting_logged = False
            if extra.once or finished:
                if finished and not extra.once:
                    log.info("training finished and every checkpoint is validated")
                break
            if not waiting_logged:
                log.info("waiting for new checkpoints in %s (checking every %.0f s until "
                         "training writes %s; Ctrl-C to stop)", run_dir, poll,
                         "finished.json")
                waiting_logged = True
            time.sleep(poll)
    except DataError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        log.warning("validation of %s interrupted; %d checkpoint(s) validated (in %s)",
                    run_dir, len(done), done_file)
        return 130
    finally:
        writer.close()
    if not done and not failed:
        names = [p.name for _, p in checkpoint_dirs(run_dir)]
        return _fail(f"no checkpoint to validate in {run_dir}"
                     + (f" (folders without state.json: {', '.join(names)})" if names else
                        " (training has not saved one yet)"))
    if failed:
        return _fail(f"{len(failed)} checkpoint(s) of {run_dir} could not be validated: "
                     + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return 0


def _leave_jax_run(code: int) -> bool:
    """Whether this process is part of a multi-process JAX run; if so and it ends as all its
    processes do (done, or stopped together on a signal), wait for them in JAX's shutdown. A
    process that fails alone exits at once instead (:func:`run_script`), so that the others'
    collectives fail and they stop, naming it."""
    jax = sys.modules.get("jax")
    if jax is None or not jax.distributed.is_initialized():
        return False
    if code in (0, 128 + signal.SIGINT, 128 + signal.SIGTERM):
        try:
            jax.distributed.shutdown()
        except Exception as e:  # a process went away meanwhile: nothing is lost
            log.warning("leaving the multi-process run: %s", str(e).splitlines()[0])
    return True


def run_script(kind: str, what: str) -> None:
    """Dispatch for the thin scripts: exits with the entry point's status. A file-system
    error that reaches this far (a full disk while writing results, a folder without write
    permission) is one error line naming the path, not a traceback."""
    fn = {"train": train_main, "val": val_main, "test": test_main}[what]
    # opt-in (LSM_HUGE_PAGES=1 or auto): restart once with glibc's huge pages for JAX on a CPU,
    # before anything runs; by default it returns at once (training/host_memory)
    restart_with_huge_pages()
    try:
        code = fn(kind)
    except OSError as e:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            datefmt="%H:%M:%S")
        where = f" ({e.filename})" if e.filename else ""
        code = _fail(f"{e.strerror or e}{where}: nothing partial was written (files are "
                     "written atomically); fix this and run the same command again")
    jax_run = _leave_jax_run(code)
    if "tensorflow" in sys.modules or jax_run:
        # Everything the script writes is written and closed by now. Skip the interpreter's
        # final garbage collection: destroying a tf.data iterator abandoned mid-stream (after
        # a data error, an interrupt or max_minutes) can deadlock there with its prefetch
        # threads (seen in 2 of 5 runs of test_vlsm.py on a corrupt PNG).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
