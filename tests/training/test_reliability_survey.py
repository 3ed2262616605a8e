"""The reliability survey (docs/reliability.md): bad inputs and faults a new user could meet.

Each case runs a script's entry point (:mod:`training.cli`, ``data.check``) in this process, as
``voxels/*_vlsm.py`` / ``depth/*_dlsm.py`` run it, and asserts the survey's "good" outcome: a
non-zero exit status, exactly one error line naming the file, key or argument, no traceback
and no usage dump, and nothing lost (the run folder hashed before and after). Cases on data
files check the loaders directly (one ``DataError`` naming the file), and one case per kind of
file goes through the test or training script. Cases already covered elsewhere are not
repeated here: runs and checkpoints in ``tests/training/test_reliability.py``, corrupt PNGs,
bad cameras and missing files in ``tests/data/test_loader.py``, mesh folders and ``--seed``
reruns in ``tests/data/test_build.py``, a full disk in ``tests/data/test_build_faults.py`` and
``tests/training/test_faults.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from data import check
from data.io import DataError
from data.loaders import LoaderConfig, make_loader
from tests.training.test_loop import REPO, TINY, script_flags
from training import cli
from training.config import load_args

ARGS_VLSM = str(REPO / "args" / "args_vlsm.json")
#: A line that reports an error: the project's log format, argparse's, or an exception's.
ERROR_LINE = re.compile(r"(^|\s)(ERROR|CRITICAL)\s|: error: |^Error: |^\S*Error: ")


@dataclass
class Outcome:
    """What a script did: its exit status and everything it printed."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def error_lines(self) -> list[str]:
        return [ln for ln in self.text.splitlines() if ERROR_LINE.search(ln)]


def run_script(kind: str, what: str, argv: list[str], capsys) -> Outcome:
    """``python {voxels|depth}/{what}_{kind}.py argv...`` in this process (its logging set up
    as the script sets it, and put back afterwards)."""
    fn = {"train": cli.train_main, "val": cli.val_main, "test": cli.test_main}[what]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    capsys.readouterr()
    # as in a fresh process: what is logged before the script sets logging up goes to stderr
    root.handlers[:] = []
    try:
        code = fn(kind, [str(a) for a in argv])
    except SystemExit as e:  # argument errors and --help
        code = e.code if isinstance(e.code, int) else 1
    finally:
        root.handlers[:], root.level = handlers, level
    cap = capsys.readouterr()
    return Outcome(code, cap.out, cap.err)


def assert_one_clear_error(res: Outcome, *names: str) -> str:
    """The survey's "good" for a bad input: exit status not 0, one error line naming each of
    ``names``, no traceback, no usage dump. Returns the error line."""
    errors = res.error_lines()
    assert res.code != 0, f"exit status 0 for a bad input:\n{res.text[-2000:]}"
    assert len(errors) == 1, f"{len(errors)} error lines:\n{res.text[-2000:]}"
    assert "Traceback" not in res.text and not re.search(r"^usage:", res.text, re.M), res.text
    for name in names:
        assert name in errors[0], f"{name!r} not named in: {errors[0]}"
    return errors[0]


def tree_hash(folder: Path) -> dict[str, str]:
    """sha256 of what a run must never lose (checkpoints, args.json, results): every file but
    TensorBoard events and the lock, which any script may write."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()
            and "events.out" not in p.name and p.name != ".lock"}


@pytest.fixture
def run_copy(tiny_vlsm_run: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny run (mvnet-2, mvnet-4), as ``log/<stamp>/train``."""
    dst = tmp_path / "log" / "2026-01-01_000000" / "train"
    shutil.copytree(tiny_vlsm_run, dst)
    return dst


# --------------------------------------------------------------------------------------------
# Arguments: one line naming the flag, before any model is built
# --------------------------------------------------------------------------------------------
ARGUMENT_CASES = {
    "unknown flag (train)": ("vlsm", "train", ["--batchsize", "2"], ["batchsize"]),
    "unknown flag (test)": ("vlsm", "test", ["--batchsize", "2"], ["batchsize"]),
    "unknown flag (train_dlsm)": ("dlsm", "train", ["--batchsize", "2"], ["batchsize"]),
    "--vis on the command line": ("vlsm", "train", ["--vis", "true"], ["vis", "--contact_sheet"]),
    "--run_trace given to test": ("vlsm", "test", ["--run_trace", "true"], ["run_trace"]),
    "--test_set_file given to test": ("vlsm", "test", ["--test_set_file", "x.txt"],
                                      ["test_set_file"]),
    "wrong type": ("vlsm", "train", ["--batch_size", "abc"], ["batch_size", "abc"]),
    "outside the choices": ("vlsm", "train", ["--nvox", "48"], ["nvox"]),
    "--im_h not a multiple of 16": ("vlsm", "train", ["--argsjs", ARGS_VLSM, "--im_h", "30"],
                                    ["im_h"]),
    "--argsjs missing": ("vlsm", "train", ["--argsjs", "no_such_args.json"],
                         ["no_such_args.json"]),
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_CASES))
def test_a_bad_argument_is_one_line_naming_it(case, capsys):
    kind, what, argv, names = ARGUMENT_CASES[case]
    assert_one_clear_error(run_script(kind, what, argv, capsys), *names)


@pytest.mark.parametrize("content, names", [
    pytest.param(lambda release: json.dumps({**release, "batchsize": 2}),
                 ["my_args.json", "batchsize"], id="unknown key"),
    pytest.param(lambda release: '{"batch_size": 2,,}', ["my_args.json"], id="invalid JSON"),
])
def test_a_bad_argument_file_is_one_line_naming_the_file(content, names, tmp_path, capsys):
    path = tmp_path / "my_args.json"
    path.write_text(content(json.loads(Path(ARGS_VLSM).read_text())))
    assert_one_clear_error(run_script("vlsm", "train", ["--argsjs", path], capsys), *names)


def test_test_help_lists_no_training_only_or_dead_flags(capsys):
    res = run_script("vlsm", "test", ["--help"], capsys)
    assert res.code == 0 and "--ckpt" in res.out, res.text[-2000:]
    for flag in ("--lr", "--niters", "--ckpt_iters", "--vis", "--run_trace", "--test_set_file"):
        assert not re.search(rf"{re.escape(flag)}\b", res.out), flag


# --------------------------------------------------------------------------------------------
# Runs: a wrong --log / --ckpt is one line naming it, and the run is left as it was
# --------------------------------------------------------------------------------------------
def test_eval_log_that_is_no_run_or_does_not_exist_is_named(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("x")
    assert_one_clear_error(run_script("vlsm", "test", ["--log", tmp_path, "--ckpt", "mvnet-4"],
                                      capsys), str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]
    missing = tmp_path / "no_run"
    assert_one_clear_error(run_script("dlsm", "val", ["--log", missing, "--once"], capsys),
                           "no_run")
    assert not missing.exists()


def _flip_a_byte(run: Path) -> None:
    w = run / "mvnet-4" / "model.weights.h5"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))


RUN_CASES = {
    # name: (kind, script, extra argv, damage to the run, names in the error line)
    "test --ckpt mvnet-999": ("vlsm", "test", ["--ckpt", "mvnet-999"], None, ["mvnet-999"]),
    "train --ckpt mvnet-999": ("vlsm", "train", ["--ckpt", "mvnet-999", "--niters", "6"],
                               None, ["mvnet-999"]),
    "test a checkpoint with one flipped byte": ("vlsm", "test", ["--ckpt", "mvnet-4"],
                                                _flip_a_byte, ["mvnet-4"]),
    "test a checkpoint without its weights": (
        "vlsm", "test", ["--ckpt", "mvnet-4"],
        lambda run: (run / "mvnet-4" / "model.weights.h5").unlink(),
        ["mvnet-4", "model.weights.h5"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_a_bad_checkpoint_request_is_one_line_and_changes_nothing(case, run_copy, tmp_path,
                                                                   capsys):
    kind, what, argv, damage, names = RUN_CASES[case]
    (run_copy / "finished.json").unlink()  # a resume would otherwise have nothing to do
    if damage:
        damage(run_copy)
    before = tree_hash(run_copy)
    res = run_script(kind, what, ["--log", run_copy, *argv, "--savedir", tmp_path / "out"],
                     capsys)
    assert_one_clear_error(res, *names)
    assert tree_hash(run_copy) == before


def test_a_script_refuses_a_model_of_the_other_head(run_copy, tiny_root, tmp_path, capsys):
    """depth/test_dlsm.py on a V-LSM run, and voxels/train_vlsm.py told to train the D-LSM:
    one line naming the model and the scripts to use; the run is left as it was, no run is
    made (mutation: drop the head check in training.cli._task and the first evaluates the
    V-LSM run as a voxel model, exit 0)."""
    before = tree_hash(run_copy)
    res = run_script("dlsm", "test", ["--log", run_copy, "--ckpt", "mvnet-4",
                                      "--savedir", tmp_path / "out"], capsys)
    assert "voxels/" in assert_one_clear_error(res, "'vlsm'")
    assert tree_hash(run_copy) == before and not (tmp_path / "out").exists()
    logdir = tmp_path / "new_runs"
    res = run_script("vlsm", "train", ["--argsjs", ARGS_VLSM,
                                       *script_flags(TINY, tiny_root, logdir), "--niters", "2",
                                       "--model", "dlsm"], capsys)
    assert "depth/" in assert_one_clear_error(res, "'dlsm'")
    assert not logdir.exists()


def test_an_existing_result_file_is_never_overwritten(run_copy, tiny_root, tmp_path, capsys):
    target = tmp_path / "table.txt"
    target.write_text("my earlier results\n")
    before = tree_hash(run_copy)
    res = run_script("vlsm", "test", ["--log", run_copy, "--ckpt", "mvnet-4", "--result_file",
                                      target, "--test_split_file", tiny_root / "splits.json",
                                      "--no_hull"], capsys)
    assert_one_clear_error(res, "table.txt")
    assert target.read_text() == "my earlier results\n" and tree_hash(run_copy) == before


def test_init_from_a_missing_folder_is_named_and_leaves_no_run(tiny_root, tmp_path, capsys):
    logdir = tmp_path / "log"
    res = run_script("vlsm", "train", ["--argsjs", ARGS_VLSM,
                                       *script_flags(TINY, tiny_root, logdir), "--niters", "2",
                                       "--init_from", tmp_path / "nothing"], capsys)
    assert_one_clear_error(res, "nothing")
    assert not logdir.exists() or not any(logdir.rglob("*"))


@pytest.mark.slow
def test_a_training_flag_given_to_test_is_ignored_with_a_warning(run_copy, tiny_root, tmp_path,
                                                                 capsys):
    splits = json.loads((tiny_root / "splits.json").read_text())
    synset = sorted(splits["test"])[0]
    one_model = tmp_path / "one_model.json"  # the shortest test that runs to its end
    one_model.write_text(json.dumps({"test": {synset: splits["test"][synset][:1]}}))
    before = tree_hash(run_copy)
    res = run_script("vlsm", "test", ["--log", run_copy, "--ckpt", "mvnet-4", "--lr", "0.1",
                                      "--test_split_file", one_model, "--savedir",
                                      tmp_path / "out", "--no_hull"], capsys)
    assert res.code == 0, res.text[-2000:]
    assert "does not use --lr" in res.text and not res.error_lines()
    assert tree_hash(run_copy) == before


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_names_the_run_and_iteration(tiny_root, tmp_path, capsys,
                                                                   monkeypatch):
    """Ctrl-C during training, through the script's entry point (SIGTERM in a real process:
    tests/training/test_reliability.py): exit status 130, one warning naming the run and the
    iteration, whose checkpoint is on disk and intact; no error line."""
    from training import checkpoint as ck
    from training import loop

    train = loop.train

    def ctrl_c_at_iteration_2(args, task, **kw):
        def on_step(it: int, loss: float) -> None:
            if it == 2:
                signal.raise_signal(signal.SIGINT)  # the loop's handler: stop after this one
        return train(args, task, on_step=on_step, **kw)

    monkeypatch.setattr(loop, "train", ctrl_c_at_iteration_2)  # train_main imports it late
    res = run_script("vlsm", "train", ["--argsjs", ARGS_VLSM,
                                       *script_flags(TINY, tiny_root, tmp_path / "log"),
                                       "--niters", "50"], capsys)
    assert res.code == 130 and not res.error_lines(), res.text[-2000:]
    m = re.search(r"stopped by SIGINT at iteration (\d+) of run (\S+?):", res.text)
    assert m and int(m.group(1)) == 2, res.text[-2000:]
    assert ck.checkpoint_problem(Path(m.group(2)) / "mvnet-2") is None
    assert "Traceback" not in res.text


# --------------------------------------------------------------------------------------------
# Data files: the loaders name the damaged file (both loaders, evaluation and training)
# --------------------------------------------------------------------------------------------
def put(path: Path, data: bytes) -> None:
    """Replace a file's content without touching its hard-linked original."""
    path.unlink()
    path.write_bytes(data)


def mat_bytes(tmp: Path, mat: dict) -> bytes:
    p = tmp / "tmp.mat"
    scipy.io.savemat(p, mat)
    data = p.read_bytes()
    p.unlink()
    return data


@pytest.fixture
def damaged_root(fake_data_root, tmp_path):
    """A copy of the session's fake root made of hard links (damage files with :func:`put`)."""
    root = tmp_path / "data"
    shutil.copytree(fake_data_root.root, root, copy_function=os.link)
    return fake_data_root.__class__(root, root / "splits.json", fake_data_root.splits,
                                    fake_data_root.boxes)


def _random(n: int) -> bytes:
    return np.random.default_rng(1).integers(0, 256, n, dtype=np.uint8).tobytes()


def _camera(fn):
    def damage(path: Path, tmp: Path) -> bytes:
        mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
        return mat_bytes(tmp, fn(mat))
    return damage


def _scaled_rotation(mat: dict) -> dict:
    e = np.array(mat["extrinsic"], np.float64)
    e[:3, :3] *= 2.0
    return {**mat, "extrinsic": e}


FILE_DAMAGE = {
    # name: (file kind, damage(path, tmp) -> new bytes, what the message must say)
    "camera truncated": ("camera", lambda p, t: p.read_bytes()[:p.stat().st_size // 2], None),
    "camera random bytes": ("camera", lambda p, t: _random(p.stat().st_size), None),
    "camera extrinsic not a rotation": ("camera", _camera(_scaled_rotation), "rotation"),
    "camera without 'extrinsic'": ("camera", _camera(lambda m: {"K": m["K"]}), "extrinsic"),
    "voxels zero bytes": ("voxels", lambda p, t: b"", None),
    "voxels truncated": ("voxels", lambda p, t: p.read_bytes()[:p.stat().st_size // 2], None),
    "voxels random bytes": ("voxels", lambda p, t: _random(p.stat().st_size), None),
    "voxels 32x32x31": ("voxels", lambda p, t: mat_bytes(
        t, {"Volume": np.zeros((32, 32, 31), np.uint8)}), "32, 32, 31"),
    "split file zero bytes": ("split", lambda p, t: b"", None),
    "split file truncated": ("split", lambda p, t: p.read_bytes()[:p.stat().st_size // 2],
                             None),
    "split file random bytes": ("split", lambda p, t: _random(p.stat().st_size), None),
}


def _config(fake, loader: str, split_file: Path | None = None, **kw) -> LoaderConfig:
    args = load_args(None, {"data_root": str(fake.root),
                            "split_file": str(split_file or fake.split_file),
                            "prefetch_threads": 2, "val_batch_size": 1, "val_im_batch": 1,
                            **kw})
    return LoaderConfig.from_args(args).replace(kind=loader)


@pytest.mark.parametrize("loader", ["tf", "numpy"])
@pytest.mark.parametrize("case", sorted(FILE_DAMAGE))
def test_a_damaged_file_is_named_by_either_loader(case, loader, damaged_root, tmp_path):
    """One validation model, one view of it: every camera of the model is damaged (whichever
    view the loader draws), or its voxel file, or the split file."""
    kind, damage, says = FILE_DAMAGE[case]
    s, m = damaged_root.splits["val"][0]
    layout = damaged_root.layout
    split_file = tmp_path / "one_model.json"
    split_file.write_text(json.dumps({"val": {s: [m]}}))
    paths = {"camera": [layout.camera_path(s, m, v) for v in range(20)],
             "voxels": [layout.voxel_path(s, m, 32)], "split": [split_file]}[kind]
    for path in paths:
        put(path, damage(path, tmp_path))
    with pytest.raises(DataError) as e:
        for _ in make_loader(_config(damaged_root, loader, split_file), "val").iterate():
            pass
    msg = str(e.value)
    assert any(str(p) in msg for p in paths) and "Traceback" not in msg, msg
    assert says is None or says in msg, msg


@pytest.mark.parametrize("damage, says", [
    pytest.param(lambda p, t: mat_bytes(t, {"Volume": np.zeros((16, 16, 16), np.uint8)}),
                 "16^3", id="16^3 voxel grids"),
    pytest.param(_camera(lambda m: {**m, "K": np.where(np.eye(3) == 1, np.nan, m["K"])}),
                 "camera", id="NaN in K"),
], )
def test_damaged_training_files_are_named_by_the_training_stream(damage, says, damaged_root,
                                                                  tmp_path):
    """Training reads random views of random models: every training file of the kind is
    damaged, and the message names one of them."""
    layout = damaged_root.layout
    voxels = says.startswith("16")
    paths = [layout.voxel_path(s, m, 32) if voxels else layout.camera_path(s, m, v)
             for s, m in damaged_root.splits["train"] for v in ([0] if voxels else range(20))]
    for p in paths:
        put(p, damage(p, tmp_path))
    with pytest.raises(DataError) as e:
        next(make_loader(_config(damaged_root, "tf", batch_size=2), "train").iterate(3))
    msg = str(e.value)
    assert any(str(p) in msg for p in paths) and says in msg, msg


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["tf", "numpy"])
def test_a_damaged_render_stops_the_test_script_with_one_line(loader, run_copy, tiny_root,
                                                              tmp_path, capsys):
    """Through the script: one error line naming the render, the run untouched."""
    from data.examples import eval_views
    from data.layout import DataLayout

    root = tmp_path / "root"
    shutil.copytree(tiny_root, root, copy_function=os.link)
    splits = json.loads((root / "splits.json").read_text())
    synset = sorted(splits["test"])[0]
    model = splits["test"][synset][0]
    view = int(eval_views(synset, model, TINY["test_im_batch"], 20, 1)[0])
    render = DataLayout(root).render_path(synset, model, view)
    put(render, _random(render.stat().st_size))
    before = tree_hash(run_copy)
    res = run_script("vlsm", "test", ["--log", run_copy, "--ckpt", "mvnet-4", "--data_root",
                                      root, "--test_split_file", root / "splits.json",
                                      "--loader", loader, "--savedir", tmp_path / "out",
                                      "--no_hull"], capsys)
    assert_one_clear_error(res, str(render.relative_to(root)))
    assert tree_hash(run_copy) == before


# --------------------------------------------------------------------------------------------
# python -m data.check
# --------------------------------------------------------------------------------------------
def _check(root: Path, split: dict, tmp_path: Path, capsys) -> Outcome:
    split_file = tmp_path / "check_split.json"
    split_file.write_text(json.dumps(split))
    capsys.readouterr()
    code = check.main(["--root", str(root), "--split", str(split_file), "--quiet",
                       "--workers", "1", "--views", "1"])
    cap = capsys.readouterr()
    return Outcome(code, cap.out, cap.err)


@pytest.mark.parametrize("kind", ["render", "voxels"])
def test_data_check_names_a_damaged_file(kind, damaged_root, tmp_path, capsys, caplog):
    s, m = damaged_root.splits["train"][0]
    layout = damaged_root.layout
    if kind == "render":
        path = layout.render_path(s, m, 0)
        put(path, _random(3000))
    else:
        path = layout.voxel_path(s, m, 32)
        put(path, mat_bytes(tmp_path, {"Volume": np.zeros((32, 32, 31), np.uint8)}))
    res = _check(damaged_root.root, {"train": {s: [m]}}, tmp_path, capsys)
    shown = str(path.relative_to(damaged_root.root))
    assert res.code != 0 and "Traceback" not in res.text + caplog.text
    assert any(shown in ln for ln in (res.text + caplog.text).splitlines()), \
        res.text + caplog.text


def test_data_check_on_a_missing_root_is_one_line(tmp_path, capsys, caplog):
    capsys.readouterr()
    code = check.main(["--root", str(tmp_path / "no_root"), "--quiet"])
    text = capsys.readouterr().err + caplog.text
    errors = [ln for ln in text.splitlines() if "ERROR" in ln or "error" in ln]
    assert code != 0 and errors and all("no_root" in ln for ln in errors), text
    assert "Traceback" not in text
