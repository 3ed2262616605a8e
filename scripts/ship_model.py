"""Copy a trained run into ``pretrained/<name>``: the form in which the repository ships models.

A shipped model is a small run directory that the test scripts and the demo notebooks accept
as ``--log``::

    pretrained/<name>/
        args.json                 the args the run was trained with (data_root, split files...)
        mvnet-<N>/                weights only (model.weights.h5 + state.json; no optimizer state)
        events.out.tfevents.*     the run's TensorBoard scalars (loss, lr, step time, metrics)
        test_mvnet-<N>_test.txt   the test table recorded when it was shipped (+ .json)
        test_mvnet-<N>_tiny.txt   the same test on the `tiny` dataset, checked by CI (+ .json)
        shipped.json              the marker of a shipped folder: test scripts write nothing
                                  here (their results go to results/<name>/)
        README.md                 the exact commands that trained and tested it

Usage::

    python scripts/ship_model.py --run log/full_cpu/2026-11-25_162131/train --ckpt mvnet-3500 \\
        --name vlsm_cpu --train_cmd "python voxels/train_vlsm.py --argsjs args/args_vlsm_cpu.json"

The test table is copied from the run (``test_<ckpt>_test_<data>-<splits>.txt/.json``, written
by ``test_vlsm.py`` / ``test_dlsm.py``; ``--table`` chooses one when the run has several) and
recorded as ``test_<ckpt>_test.txt/.json``; run the test script on the run first.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger("ship_model")


def copy_scalars(run: Path, out: Path) -> int:
    """Rewrite the run's TensorBoard scalars (not images) into one event file in ``out``.

    Returns:
        The number of scalar points written.
    """
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    writer = tf.summary.create_file_writer(str(out))
    n = 0
    with writer.as_default():
        for tag in acc.Tags().get("tensors", []):
            for ev in acc.Tensors(tag):
                value = tf.make_ndarray(ev.tensor_proto)
                if value.ndim == 0:
                    tf.summary.scalar(tag, float(value), step=ev.step)
                    n += 1
        for tag in acc.Tags().get("scalars", []):
            for ev in acc.Scalars(tag):
                tf.summary.scalar(tag, ev.value, step=ev.step)
                n += 1
    writer.close()
    return n


def record_tiny_table(folder: Path, ckpt: str, tiny_root: Path) -> None:
    """Test the shipped checkpoint on the `tiny` dataset and keep the table beside it.

    CI rebuilds `tiny` (deterministic) and checks that the shipped model still gives this
    table (tests/test_pretrained.py); the full table needs `datasets/full`.
    """
    from data import build
    from demo.model import model_kind
    from training.cli import test_main

    if not (tiny_root / "splits.json").is_file():
        assert build.main(["synth", "--size", "tiny", "--root", str(tiny_root), "--quiet"]) == 0
    kind = model_kind(folder, ckpt)
    rc = test_main(kind, ["--log", str(folder), "--ckpt", ckpt, "--data_root", str(tiny_root),
                          "--test_split_file", str(tiny_root / "splits.json"),
                          "--result_file", str(folder / f"test_{ckpt}_tiny")])
    if rc != 0:
        raise RuntimeError(f"testing {folder}/{ckpt} on {tiny_root} failed")
    txt = folder / f"test_{ckpt}_tiny.txt"
    shipped = f"pretrained/{folder.name.removeprefix('.').removesuffix('.tmp')}"
    txt.write_text(txt.read_text().replace(str(folder), shipped)
                   .replace(str(tiny_root / "splits.json"), "<tiny>/splits.json"))
    result = json.loads((folder / f"test_{ckpt}_tiny.json").read_text())
    result["data_root"] = result["split_file"] = "<tiny>"
    result["checkpoint"] = ckpt
    (folder / f"test_{ckpt}_tiny.json").write_text(json.dumps(result, indent=1) + "\n")


def find_test_table(run: Path, ckpt: str, table: Path | None = None) -> Path:
    """The stem (path without .txt/.json) of the run's test table to ship.

    ``table`` if given, else the run's only ``test_<ckpt>_test*.json`` (the test script names
    its tables by split, data root and split file, see training/cli.py).
    """
    if table is not None:
        stem = Path(str(table).removesuffix(".json").removesuffix(".txt"))
        found = [stem] if stem.with_name(stem.name + ".json").is_file() else []
    else:
        found = sorted(p.with_suffix("") for p in run.glob(f"test_{ckpt}_test*.json"))
    if not found:
        raise FileNotFoundError(f"no test table {table or f'test_{ckpt}_test*.json'} in {run}: "
                                f"run the test script on {run} first")
    if len(found) > 1:
        raise FileExistsError(f"{run} has several test tables for {ckpt} "
                              f"({', '.join(p.name for p in found)}): choose one with --table")
    if not found[0].with_name(found[0].name + ".txt").is_file():
        raise FileNotFoundError(f"{found[0]}.txt is missing")
    return found[0]


def ship(run: Path, ckpt: str, name: str, train_cmd: str, note: str = "",
         tiny_root: Path = REPO / "datasets" / "tiny", table: Path | None = None) -> Path:
    """Copy ``run/ckpt`` (weights only), args, scalars and test table to ``pretrained/name``."""
    from training.cli import SHIPPED_MARKER

    src = run / ckpt
    if not (src / "model.weights.h5").is_file():
        raise FileNotFoundError(f"{src} has no model.weights.h5")
    stem = find_test_table(run, ckpt, table)
    out = REPO / "pretrained" / name
    tmp = out.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / ckpt).mkdir(parents=True)
    shutil.copy2(src / "model.weights.h5", tmp / ckpt)
    state = json.loads((src / "state.json").read_text())
    state["optimizer_variables"] = []
    if "files" in state:  # the checkpoint's file manifest: the weights only now
        state["files"] = {k: v for k, v in state["files"].items() if k == "model.weights.h5"}
    (tmp / ckpt / "state.json").write_text(json.dumps(state, indent=1) + "\n")
    args = json.loads((run / "args.json").read_text())
    args["logdir"] = "./log"
    (tmp / "args.json").write_text(json.dumps(args, indent=1) + "\n")
    n = copy_scalars(run, tmp)
    (tmp / SHIPPED_MARKER).write_text(json.dumps(
        {"name": name, "checkpoint": ckpt,
         "about": "a shipped model: the test scripts write nothing into this folder; their "
                  f"results go to results/{name}/ (or --savedir)"}, indent=1) + "\n")
    record_tiny_table(tmp, ckpt, tiny_root)
    result = json.loads(stem.with_name(stem.name + ".json").read_text())
    for suffix in (".txt", ".json"):
        shutil.copy2(stem.with_name(stem.name + suffix), tmp / f"test_{ckpt}_test{suffix}")
    from models.registry import model_head

    kind = result.get("task", "vlsm")
    script = {"voxels": "voxels/test_vlsm.py", "depth": "depth/test_dlsm.py"}[model_head(kind)]
    if kind not in ("vlsm", "dlsm"):
        script += f" --model {kind}"
    split_file = result.get("split_file", args.get("split_file"))
    (tmp / "README.md").write_text(
        f"# pretrained/{name}\n\n"
        f"{kind.upper()} checkpoint `{ckpt}` ({state['iteration']} iterations), weights only.\n\n"
        f"Trained with\n\n    {train_cmd}\n\n"
        f"Tested with\n\n    python {script} --log pretrained/{name} "
        f"--ckpt {ckpt} --test_split_file {split_file}\n\n"
        f"which must reproduce `test_{ckpt}_test.txt` (the full table needs `datasets/full`, "
        f"built by `./prepare_data.sh --size full`). `test_{ckpt}_tiny.txt` is the same test "
        f"on the `tiny` dataset; CI rebuilds `tiny` and checks that table "
        f"(tests/test_pretrained.py).\n"
        f"TensorBoard scalars of the training run: `tensorboard --logdir pretrained/{name}` "
        f"({n} points).\n"
        f"Tests of this folder write their tables to `results/{name}/` (`{SHIPPED_MARKER}` "
        f"marks it shipped), never into it.\n" + (f"\n{note}\n" if note else ""))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log.info("shipped %s/%s -> %s (%d scalar points)", run, ckpt, out, n)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, type=Path, help="the run directory (…/train)")
    p.add_argument("--ckpt", required=True, help="checkpoint name, e.g. mvnet-3500")
    p.add_argument("--name", required=True, help="folder name under pretrained/")
    p.add_argument("--train_cmd", required=True, help="the command that trained the run")
    p.add_argument("--note", default="", help="extra text for the model's README")
    p.add_argument("--tiny_root", type=Path, default=REPO / "datasets" / "tiny",
                   help="the tiny dataset for the CI table (built if missing)")
    p.add_argument("--table", type=Path, default=None,
                   help="the run's test table to ship (default: its only test_<ckpt>_test*)")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ship(a.run, a.ckpt, a.name, a.train_cmd, a.note, a.tiny_root, a.table)


if __name__ == "__main__":
    main()
