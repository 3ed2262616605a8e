"""Where test results go (training/cli.py, ``test_main``): never over a recorded table.

Tables are named ``test_<ckpt>_<split>_<data root>-<split file>`` (then ``_2``, ``_3``, ...),
``--result_file`` refuses an existing name, a shipped model folder (``shipped.json``) gets
nothing written into it (its results go to ``results/<name>/``), and ``--savedir`` takes the
tables, predictions and contact sheet.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.test_loop import tiny_args
from training import cli
from training.cli import SHIPPED_MARKER, result_tag
from training.loop import train
from training.tasks import VLSM_TASK


@pytest.fixture(scope="module")
def tiny_run(tiny_root, tmp_path_factory) -> Path:
    """A one-iteration tiny V-LSM run on `tiny` (checkpoint mvnet-1)."""
    res = train(tiny_args(tiny_root, tmp_path_factory.mktemp("policy_log"), niters=1),
                VLSM_TASK, progress=False)
    assert res.checkpoint is not None and res.checkpoint.name == "mvnet-1"
    return res.run_dir


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def _test(run: Path, *flags: str) -> int:
    return cli.test_main("vlsm", ["--log", str(run), "--ckpt", "mvnet-1", "--no_hull", *flags])


def test_result_tag_is_short_readable_and_safe():
    assert result_tag("datasets/full", "data/splits.json") == "full-splits"
    assert result_tag("datasets/full/", "splits_small") == "full-splits_small"
    assert result_tag("/data/my set (v2)", "x/a b.json") == "my_set_v2_-a_b"
    long_a, long_b = result_tag("d/" + "a" * 40, "s.json"), result_tag("d/" + "a" * 41, "s.json")
    assert long_a != long_b and len(long_a) <= 40 and long_a.endswith("-s")


@pytest.mark.slow
def test_a_second_test_never_overwrites_the_first(tiny_run, tiny_root, tmp_path):
    run = _copy(tiny_run, tmp_path / "run")
    tag = f"{tiny_root.name}-splits"
    assert _test(run) == 0
    first = {s: (run / f"test_mvnet-1_test_{tag}{s}").read_bytes() for s in (".txt", ".json")}
    rec = json.loads(first[".json"])
    assert rec["data_root"] == str(tiny_root) and rec["num_models"] == 13
    assert _test(run) == 0  # the same test again: a new name, the first untouched
    assert (run / f"test_mvnet-1_test_{tag}_2.json").is_file()
    assert (run / f"test_mvnet-1_test_{tag}_2.txt").is_file()
    # another split file, another data root (a link to the same data): their own names
    other = tmp_path / "other_splits.json"
    shutil.copy(tiny_root / "splits.json", other)
    assert _test(run, "--test_split_file", str(other)) == 0
    out = json.loads((run / f"test_mvnet-1_test_{tiny_root.name}-other_splits.json").read_text())
    assert out["split_file"] == str(other)
    (tmp_path / "link").symlink_to(tiny_root, target_is_directory=True)
    assert _test(run, "--data_root", str(tmp_path / "link")) == 0
    assert (run / "test_mvnet-1_test_link-splits.json").is_file()
    # --result_file never overwrites either: one clear error, nothing written
    stem = run / f"test_mvnet-1_test_{tag}"
    for given in (str(stem), f"{stem}.txt", f"{stem}.json"):
        assert _test(run, "--result_file", given) == 1
    assert _test(run, "--result_file", str(tmp_path / "mine" / "table.txt")) == 0
    assert (tmp_path / "mine" / "table.txt").is_file()
    assert (tmp_path / "mine" / "table.json").is_file()
    for s, data in first.items():
        assert (run / f"test_mvnet-1_test_{tag}{s}").read_bytes() == data
    assert len(list(run.glob("test_*.json"))) == 4


@pytest.mark.slow
def test_a_shipped_folder_gets_nothing_written(tiny_run, tiny_root, tmp_path, monkeypatch):
    shipped = _copy(tiny_run, tmp_path / "pretrained" / "my_model")
    (shipped / SHIPPED_MARKER).write_text('{"name": "my_model"}\n')
    before = _snapshot(shipped)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for _ in range(2):
        assert _test(shipped, "--save_preds", "1", "--contact_sheet", "1") == 0
    assert _snapshot(shipped) == before
    out = cwd / "results" / "my_model"
    tag = f"{tiny_root.name}-splits"
    for name in (tag, f"{tag}_2"):
        assert (out / f"test_mvnet-1_test_{name}.txt").is_file()
        assert (out / f"test_mvnet-1_test_{name}.json").is_file()
        assert (out / f"sheet_mvnet-1_test_{name}.png").is_file()
        assert list((out / f"preds_mvnet-1_test_{name}").glob("*.npz"))


@pytest.mark.slow
def test_savedir_takes_tables_predictions_and_the_sheet(tiny_run, tiny_root, tmp_path):
    run = _copy(tiny_run, tmp_path / "run")
    before = _snapshot(run)
    save = tmp_path / "saved"
    assert _test(run, "--savedir", str(save), "--save_preds", "1", "--contact_sheet", "1") == 0
    assert _snapshot(run) == before
    name = f"mvnet-1_test_{tiny_root.name}-splits"
    assert sorted(p.name for p in save.iterdir()) == [
        f"preds_{name}", f"sheet_{name}.png", f"test_{name}.json", f"test_{name}.txt"]
    assert list((save / f"preds_{name}").glob("*.ply"))


def test_ship_model_finds_the_runs_test_table(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ship_model", Path(__file__).resolve().parents[2] / "scripts" / "ship_model.py")
    ship_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship_model)
    with pytest.raises(FileNotFoundError, match="run the test script"):
        ship_model.find_test_table(tmp_path, "mvnet-5")
    for s in (".txt", ".json"):
        (tmp_path / f"test_mvnet-5_test_full-splits{s}").write_text("{}")
    assert ship_model.find_test_table(tmp_path, "mvnet-5").name == "test_mvnet-5_test_full-splits"
    for s in (".txt", ".json"):
        (tmp_path / f"test_mvnet-5_test_full-splits_2{s}").write_text("{}")
    with pytest.raises(FileExistsError, match="--table"):
        ship_model.find_test_table(tmp_path, "mvnet-5")
    chosen = ship_model.find_test_table(tmp_path, "mvnet-5",
                                        tmp_path / "test_mvnet-5_test_full-splits_2.json")
    assert chosen.name == "test_mvnet-5_test_full-splits_2"
