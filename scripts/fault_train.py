"""Fault injection for training: kill -9 at random moments, resume, compare with an unbroken run.

Each trial starts ``voxels/train_vlsm.py`` on the tiny synthetic dataset in a fresh log folder,
kills it with SIGKILL after a random delay (uniform over the length of an uninterrupted run, so
kills land in start-up, training steps and checkpoint writes alike; a draw that comes after the
run has finished is drawn again), then resumes it with
``--log`` (or starts it again when the kill came before the run folder existed) and compares
the final checkpoint's weights and optimizer state with those of the uninterrupted reference
run, array by array. Prints a table and ``N/N exact``.

    python scripts/fault_train.py --trials 20            # about 10 minutes on 2 cores
    python scripts/fault_train.py --trials 3 --niters 12 # a quick look

The tiny dataset is built into ``--data`` (default: a temporary folder) unless it exists.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: The tiny V-LSM of the test suite: a training step takes a few tens of milliseconds.
TINY = {"im_h": 32, "im_w": 32, "nvox": 32, "im_channels": 4, "grid_channels": 4,
        "batch_size": 2, "im_batch": 2, "prefetch_threads": 2, "lr": 3e-3, "sum_iters": 7}


def train_cmd(data: Path, logdir: Path, niters: int, ckpt_iters: int) -> list[str]:
    """The training command of one trial (a new run under ``logdir``)."""
    flags = {**TINY, "data_root": data, "split_file": data / "splits.json", "logdir": logdir,
             "niters": niters, "ckpt_iters": ckpt_iters}
    cmd = [sys.executable, str(REPO / "voxels" / "train_vlsm.py"), "--argsjs",
           str(REPO / "args" / "args_vlsm.json")]
    for k, v in flags.items():
        cmd += [f"--{k}", str(v)]
    return cmd


def run_dir(logdir: Path) -> Path | None:
    """The run folder a trial's training made, if any."""
    runs = sorted(logdir.glob("*/train"))
    return runs[0] if runs else None


def final_arrays(run: Path, niters: int) -> dict[str, np.ndarray]:
    """Every weight and optimizer array of ``run``'s last checkpoint, by name."""
    import h5py

    ckpt = run / f"mvnet-{niters}"
    out: dict[str, np.ndarray] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            out[f"w:{name}"] = obj[()]

    with h5py.File(ckpt / "model.weights.h5", "r") as f:
        f.visititems(visit)
    with np.load(ckpt / "optimizer.npz") as z:
        out.update({f"o:{k}": z[k] for k in z.files})
    return out


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Largest absolute difference between two checkpoints' arrays (inf if they differ in
    names or shapes)."""
    if a.keys() != b.keys():
        return float("inf")
    diff = 0.0
    for k in a:
        if a[k].shape != b[k].shape:
            return float("inf")
        if a[k].size:
            diff = max(diff, float(np.max(np.abs(a[k].astype(np.float64)
                                                 - b[k].astype(np.float64)))))
    return diff


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--niters", type=int, default=30)
    p.add_argument("--ckpt_iters", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=None, help="tiny data root (built if missing)")
    p.add_argument("--work", type=Path, default=None, help="folder for the runs (default tmp)")
    a = p.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp(prefix="fault_train_"))
    data = a.data or work / "tiny"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not (data / "splits.json").is_file():
        subprocess.run([sys.executable, "-m", "data.build", "synth", "--size", "tiny",
                        "--root", str(data), "--quiet"], cwd=REPO, check=True, env=env)
    t0 = time.monotonic()
    ref = subprocess.run(train_cmd(data, work / "ref", a.niters, a.ckpt_iters), env=env,
                         capture_output=True, text=True)
    length = time.monotonic() - t0
    if ref.returncode != 0:
        sys.stderr.write(ref.stderr[-3000:])
        return 1
    reference = final_arrays(run_dir(work / "ref"), a.niters)  # type: ignore[arg-type]
    rng = random.Random(a.seed)
    rows, exact, finished_first, attempt = [], 0, 0, 0
    while len(rows) < a.trials and attempt < 3 * a.trials:
        trial, attempt = len(rows), attempt + 1
        logdir = work / f"attempt{attempt:02d}"
        delay = rng.uniform(0.0, length)
        proc = subprocess.Popen(train_cmd(data, logdir, a.niters, a.ckpt_iters), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is not None:  # it finished before the kill: not a trial, draw again
            finished_first += 1
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run = run_dir(logdir)
        ckpts = sorted(int(q.name.split("-")[1]) for q in run.glob("mvnet-*")) if run else []
        state = ("no run folder" if run is None else
                 f"checkpoints {ckpts}" if ckpts else "run folder, no checkpoint")
        leftovers = [q.name for q in run.iterdir() if q.name.startswith(".mvnet")] if run else []
        if run is None:
            cmd = train_cmd(data, logdir, a.niters, a.ckpt_iters)
        else:
            cmd = [sys.executable, str(REPO / "voxels" / "train_vlsm.py"), "--log", str(run)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        run = run_dir(logdir)
        if res.returncode != 0 or run is None:
            outcome, diff = f"resume failed (rc {res.returncode}): {res.stderr[-200:]}", None
        else:
            diff = max_difference(final_arrays(run, a.niters), reference)
            outcome = "exact" if diff == 0.0 else f"differs (max |diff| {diff:.3g})"
        exact += outcome == "exact"
        rows.append((trial, f"{delay:.2f}", state, ", ".join(leftovers) or "-", outcome))
        print(f"trial {trial}: kill at {delay:.2f} s: {state}; {outcome}", flush=True)
    from tabulate import tabulate

    print()
    print(f"reference run: {a.niters} iterations, checkpoint every {a.ckpt_iters}, "
          f"{length:.1f} s (start-up included)")
    print(tabulate(rows, headers=["trial", "kill -9 at (s)", "state at kill",
                                  "temporary folders left", "after resume"],
                   tablefmt="github"))
    if finished_first:
        print(f"\n({finished_first} draw(s) came after the run had finished: drawn again)")
    print(f"\n{exact}/{len(rows)} exact")
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if exact == len(rows) == a.trials else 1


if __name__ == "__main__":
    sys.exit(main())
