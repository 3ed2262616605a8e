"""Recorded results (training/records.py, scripts/results.py): a real test run recorded and
rendered, the table's numbers checked against the run's JSON, a taken name refused, speed
lines reduced to the newest per machine and configuration, and the committed RESULTS.md,
docs/speed.md and README block equal to a fresh render of the committed records."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from tests.training.test_loop import tiny_args
from training import cli, records
from training.loop import train
from training.records_render import render_readme_block, render_results, render_speed
from training.tasks import VLSM_TASK

REPO = Path(__file__).resolve().parents[1]


def _results_script():
    spec = importlib.util.spec_from_file_location("results_script", REPO / "scripts/results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny_test_json(tiny_root, tmp_path_factory) -> Path:
    """The .json of ``test_vlsm.py`` on a one-iteration tiny V-LSM run (with the hull)."""
    log = tmp_path_factory.mktemp("records_log")
    res = train(tiny_args(tiny_root, log, niters=1), VLSM_TASK, progress=False)
    out = tmp_path_factory.mktemp("records_out") / "table.txt"
    rc = cli.test_main("vlsm", ["--log", str(res.run_dir), "--ckpt", "mvnet-1",
                                "--result_file", str(out)])
    assert rc == 0
    return out.with_suffix(".json")


def _table_rows(markdown: str, label: str) -> list[list[str]]:
    """The cells of the markdown table rows whose first cell is ``label``."""
    rows = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == label:
            rows.append(cells)
    return rows


@pytest.mark.slow
def test_record_render_round_trip(tiny_test_json, tmp_path, capsys):
    script = _results_script()
    rec_dir = tmp_path / "records"
    run = json.loads(tiny_test_json.read_text())
    argv = ["--records", str(rec_dir), "record", str(tiny_test_json), "--name", "tiny_one",
            "--experiment", "tiny", "--title", "Tiny V-LSM", "--label", "one iteration"]
    assert script.main(argv) == 0
    path = rec_dir / "results" / "tiny_one.json"
    rec = json.loads(path.read_text())
    # provenance written by the test script itself: command, code version, machine
    assert "test_main('vlsm'" in rec["command"] and "mvnet-1" in rec["command"]
    assert re.fullmatch(r"[0-9a-f]{40}", rec["code"]["commit"])
    assert isinstance(rec["code"]["dirty"], bool)
    assert rec["machine"]["cores"] >= 1 and rec["machine"]["cpu"]
    assert rec["precision"] == "float32" and rec["backend"] in ("tensorflow", "jax")
    assert rec["dataset"]["num_models"] == run["num_models"] == 13
    assert rec["result"]["results"] == run["results"]

    exps = records.experiments(rec_dir / "experiments.json")
    text = render_results(exps, records.read_records(rec_dir / "results"))
    (row,) = _table_rows(text, "one iteration")
    means = run["results"]["thresh_0.4"]
    expected = means["lsm"]["mean"] + means["visual_hull"]["mean"]
    assert row[1] == "13"
    assert [float(c) for c in row[2:]] == pytest.approx([100 * x for x in expected], abs=0.051)
    # every class of the per-class table, by its class name
    from data.layout import class_name
    for synset, vals in means["lsm"]["per_class"].items():
        (cls_row,) = _table_rows(text, class_name(synset))
        hull = means["visual_hull"]["per_class"][synset]
        assert [float(c) for c in cls_row[1:]] == pytest.approx(
            [100 * x for x in vals + hull], abs=0.051)
    assert text.startswith("# Results") and "python scripts/results.py render" in text[:400]

    # a taken name is refused in one line, and the record is left as it was
    before = path.read_bytes()
    capsys.readouterr()
    assert script.main(argv[:8]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "exists already" in err and "tiny_one" in err
    assert path.read_bytes() == before
    # an unknown experiment and a JSON that is no test result are refused too
    assert script.main(argv[:4] + ["--name", "other", "--experiment", "nope"]) == 1
    assert "unknown experiment" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"task": "vlsm"}')
    assert script.main(["--records", str(rec_dir), "record", str(bad), "--name", "b",
                        "--experiment", "tiny"]) == 1
    assert "not a test result" in capsys.readouterr().err


def test_speed_table_keeps_the_newest_line_per_machine_and_config(tmp_path):
    path = tmp_path / "speed.jsonl"
    m1 = {"cpu": "CPU A", "cores": 2, "cpu_flags": ["avx2"], "gpus": []}
    m2 = {"cpu": "CPU B", "cores": 4, "cpu_flags": [], "gpus": []}
    common = {"backend": "tensorflow", "precision": "float32", "path": path,
              "command": "python benchmarks/bm_x.py", "code": {"commit": "a" * 40,
                                                              "dirty": False}}
    records.append_speed("bm_x", "cfg", 2.5, machine=m1, **common)
    records.append_speed("bm_x", "cfg", 1.25, machine=m1, stats={"peak_rss_gb": 3.0},
                         baseline={"name": "original", "seconds": 5.0}, **common)
    records.append_speed("bm_x", "cfg", 7.0, machine=m2, **common)
    with pytest.raises(records.RecordError, match="unknown speed stats"):
        records.append_speed("bm_x", "cfg", 1.0, machine=m1, stats={"speed": 1}, **common)
    lines = records.read_speed(path)
    assert [ln["seconds"] for ln in lines] == [2.5, 1.25, 7.0]
    text = render_speed(lines)
    a, b = text.index("## CPU A"), text.index("## CPU B")
    section_a = text[a:b]
    assert "**1.250**" in section_a and "2.500" not in section_a and "4.00x" in section_a
    assert "**7.000**" in text[b:]


def test_committed_results_are_a_fresh_render_of_the_records():
    """RESULTS.md, docs/speed.md and the README's results block are never edited by hand."""
    files = _results_script().rendered(records.RECORDS)
    for path, text in files.items():
        assert path.read_text() == text, (
            f"{path.relative_to(REPO)} differs from a render of records/: run "
            "`python scripts/results.py render` (and never edit it by hand)")
    exps = records.experiments()
    assert render_readme_block(exps, records.read_records()) in files[REPO / "README.md"]
    # every record names a known experiment, and its name is its file name
    ids = {e["id"] for e in exps}
    for p in sorted(records.RESULTS_DIR.glob("*.json")):
        rec = json.loads(p.read_text())
        assert rec["name"] == p.stem and rec["experiment"] in ids
