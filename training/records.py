"""Recorded results: every number the documentation quotes comes from a file in ``records/``.

Two kinds of record, both plain JSON written by this module and read by
:mod:`training.records_render` (which writes ``RESULTS.md``, ``docs/speed.md`` and the README's
results block; ``python scripts/results.py render``):

* **Test results**, ``records/results/<name>.json``, one file per test run, never overwritten.
  Keys (format 1):

  - ``name`` (the file's stem), ``experiment`` (an id of ``records/experiments.json``: the
    table the record is a row of), ``label`` (the row's name in that table);
  - ``result``: the table values as ``voxels/test_vlsm.py`` / ``depth/test_dlsm.py`` write them
    (:meth:`training.evaluate.EvalResult.to_json`: ``task``, ``metric``, ``num_models``,
    ``results`` ``{threshold or protocol: {"lsm"|"visual_hull": {"per_class", "mean",
    ["mean_seen", "mean_unseen"]}}}``, optional ``point_clouds``, ``seen_classes``, ...);
    IoU as a fraction, depth errors in scene units;
  - ``dataset`` (``data_root``, ``split_file``, ``split``, ``num_models``), ``checkpoint``;
  - provenance: ``command`` (the test command), ``train_command``, ``code`` (``{"commit",
    "dirty"}``), ``machine`` (:func:`machine`), ``backend``, ``precision`` (of the test's
    arithmetic), ``train_precision``, ``software``, ``date``; any of them may be the string
    ``"unknown"`` (records converted from tables kept before records existed), never guessed;
  - ``notes``: free text (where a converted record came from).

* **Speed measurements**, ``records/speed.jsonl``, one JSON object per line, appended by the
  benchmarks through :func:`append_speed`; the newest line of each (machine, configuration)
  is the current speed table.

The experiments' titles, their order and which ones the README shows are in
``records/experiments.json`` (``[{"id", "title", "about", "readme", "rows"}]``).

Only the standard library is imported (no Keras, no TensorFlow): the benchmarks and the test
script call it after they have measured.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "records"
RESULTS_DIR = RECORDS / "results"
SPEED_FILE = RECORDS / "speed.jsonl"
EXPERIMENTS_FILE = RECORDS / "experiments.json"
#: Format version of both kinds of record.
FORMAT = 1
#: A field whose value was not recorded.
UNKNOWN = "unknown"
#: CPU flags that decide which kernels run (bfloat16 and AMX paths of oneDNN).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
             "amx_int8")
#: Record names: what a file name may safely hold.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
#: Measurement fields :func:`append_speed` accepts in ``stats``.
SPEED_STATS = ("seconds_min", "seconds_max", "n", "first_step_s", "peak_rss_gb",
               "models_per_s", "views_per_s")


class RecordError(ValueError):
    """A record cannot be written as asked; the message says why in one line."""


def _git(*args: str, repo: Path = REPO) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                             check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def code_version(repo: Path = REPO) -> dict[str, Any] | str:
    """The code a result was made with: ``{"commit": <40 hex>, "dirty": bool}``, where
    ``dirty`` means tracked files differ from the commit; ``"unknown"`` outside git."""
    commit = _git("rev-parse", "HEAD", repo=repo)
    if not commit:
        return UNKNOWN
    status = _git("status", "--porcelain", "--untracked-files=no", repo=repo)
    return {"commit": commit, "dirty": bool(status) if status is not None else UNKNOWN}


def _gpus() -> list[str]:
    """NVIDIA GPU names from ``nvidia-smi`` (empty without one; no framework imported)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]


def machine() -> dict[str, Any]:
    """This machine as a record states it.

    Returns:
        ``cpu`` (model name), ``cores`` (CPUs this process may use), ``cpu_flags`` (which of
        :data:`CPU_FLAGS` the CPU has), ``memory_gb`` (total RAM, GB), ``gpus`` (names; empty
        without a GPU), ``os``.
    """
    cpu, flags, mem = platform.processor() or platform.machine(), set(), None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = (s.strip() for s in line.partition(":"))
            if key == "model name" and val:
                cpu = val
            elif key == "flags":
                flags = set(val.split())
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "cpu_flags": [f for f in CPU_FLAGS if f in flags],
            "memory_gb": mem, "gpus": _gpus(), "os": platform.system()}


def software() -> dict[str, str]:
    """Versions of Python and of the frameworks that compute (``"not installed"`` if absent)."""
    out = {"python": platform.python_version()}
    for name, dists in (("keras", ("keras",)), ("tensorflow", ("tensorflow", "tensorflow-cpu")),
                        ("jax", ("jax",))):
        out[name] = "not installed"
        for d in dists:
            try:
                out[name] = importlib.metadata.version(d)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return out


def command_line(argv: Sequence[str] | None = None, script: str | None = None) -> str:
    """The command that is running, as a user would type it from the repository root.

    Args:
        argv: the arguments (without the program); None reads ``sys.argv[1:]``.
        script: the program; None takes ``sys.argv[0]`` (relative to the repository when it
            lies inside it).
    """
    if script is None:
        prog = Path(sys.argv[0])
        try:
            script = str(prog.resolve().relative_to(REPO))
        except (ValueError, OSError):
            script = str(prog)
    args = list(sys.argv[1:] if argv is None else argv)
    return "python " + shlex.join([script, *args])


def now() -> str:
    """UTC time, to the minute, as records write it (``2026-12-07T15:40Z``)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def provenance(command: str | Sequence[str] | None = None, *, backend: str | None = None,
               precision: str | None = None) -> dict[str, Any]:
    """Where a result comes from: command, code version, machine, backend, precision, date.

    Args:
        command: the command line (a string or its words); None: :func:`command_line`.
        backend: the Keras backend; None reads ``KERAS_BACKEND`` (Keras's default
            ``tensorflow`` when unset) without importing Keras.
        precision: the precision the arithmetic ran in (``"float32"``, ``"bfloat16"``...).
    """
    if command is None:
        command = command_line()
    elif not isinstance(command, str):
        command = shlex.join(command)
    if backend is None:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return {"command": command, "code": code_version(), "machine": machine(),
            "backend": backend, "precision": precision or UNKNOWN, "software": software(),
            "date": now()}


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise RecordError(f"record name {name!r}: use letters, digits, '_', '.' and '-' "
                          "(it becomes the file name)")


def experiments(path: Path = EXPERIMENTS_FILE) -> list[dict[str, Any]]:
    """The experiments in their order (``records/experiments.json``; empty if missing)."""
    return json.loads(path.read_text()) if path.is_file() else []


def add_experiment(exp_id: str, title: str, about: str = "", *,
                   path: Path = EXPERIMENTS_FILE) -> None:
    """Append an experiment (a table of RESULTS.md) to ``records/experiments.json``.

    Raises:
        RecordError: the id exists already or is not a valid name.
    """
    _check_name(exp_id)
    exps = experiments(path)
    if any(e["id"] == exp_id for e in exps):
        raise RecordError(f"experiment {exp_id!r} exists already in {path}")
    exps.append({"id": exp_id, "title": title, "about": about, "readme": False,
                 "rows": ["mean"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    # one experiment a line, as the file is written by hand
    lines = ",\n".join(" " + json.dumps(e, ensure_ascii=False) for e in exps)
    path.write_text(f"[\n{lines}\n]\n")


def _run_facts(checkpoint: str | None) -> dict[str, Any]:
    """What the run folder of ``checkpoint`` says about its training (args.json), if readable."""
    if not checkpoint:
        return {}
    args_file = Path(checkpoint).parent / "args.json"
    try:
        args = json.loads(args_file.read_text())
    except (OSError, ValueError):
        return {}
    keys = ("argsjs", "rnn", "precision", "niters", "init_from", "split_file", "data_root")
    return {"run_args": {k: args[k] for k in keys if k in args}}


def record(test_json: Mapping[str, Any], name: str, experiment: str, *, label: str | None = None,
           train_command: str | None = None, notes: str = "",
           directory: Path = RESULTS_DIR, known_experiments: Sequence[str] | None = None,
           **fields: Any) -> Path:
    """Write one test result as ``<directory>/<name>.json``; never overwrites.

    Args:
        test_json: what ``test_vlsm.py`` / ``test_dlsm.py`` wrote (``test_*.json``): the
            table values (``task``, ``metric``, ``num_models``, ``results``, ...), the data
            (``data_root``, ``split_file``, ``split``, ``checkpoint``) and, from the test
            scripts of this version on, its ``provenance`` (:func:`provenance`).
        name: the record's name (its file name without ``.json``).
        experiment: the id of the experiment (table) it belongs to.
        label: its row name in that table (default ``name``).
        train_command: the command that trained the model, if known.
        notes: free text.
        directory: where records live.
        known_experiments: ids it may name (default: those of ``records/experiments.json``).
        **fields: provenance fields to set or override (``command``, ``code``, ``machine``,
            ``backend``, ``precision``, ``train_precision``, ``date``, ``software``).

    Returns:
        The path written.

    Raises:
        RecordError: the name is taken or invalid, the experiment is unknown, or the JSON is
            not a test result.
    """
    _check_name(name)
    path = Path(directory) / f"{name}.json"
    if path.exists():
        raise RecordError(f"record {name!r} exists already ({path}); records are never "
                          "overwritten: choose another --name")
    ids = list(known_experiments) if known_experiments is not None else [
        e["id"] for e in experiments()]
    if experiment not in ids:
        raise RecordError(f"unknown experiment {experiment!r} (known: {', '.join(ids)}); "
                          "add it with --title")
    missing = [k for k in ("task", "metric", "results") if k not in test_json]
    if missing:
        raise RecordError(f"not a test result (no {', '.join(missing)}): give the .json "
                          "that test_vlsm.py / test_dlsm.py wrote")
    prov = dict(test_json.get("provenance") or {})
    prov.update(fields)
    result = {k: v for k, v in test_json.items()
              if k not in ("provenance", "checkpoint", "split_file", "split", "data_root",
                           "views")}
    rec: dict[str, Any] = {
        "format": FORMAT, "name": name, "experiment": experiment, "label": label or name,
        "command": prov.pop("command", UNKNOWN),
        "train_command": train_command or prov.pop("train_command", UNKNOWN),
        "code": prov.pop("code", UNKNOWN), "machine": prov.pop("machine", UNKNOWN),
        "backend": prov.pop("backend", UNKNOWN), "precision": prov.pop("precision", UNKNOWN),
        "train_precision": prov.pop("train_precision", UNKNOWN),
        "date": prov.pop("date", UNKNOWN), "software": prov.pop("software", UNKNOWN),
        "dataset": {"data_root": test_json.get("data_root", UNKNOWN),
                    "split_file": test_json.get("split_file", UNKNOWN),
                    "split": test_json.get("split", UNKNOWN),
                    "num_models": test_json.get("num_models", UNKNOWN),
                    "views": test_json.get("views", UNKNOWN)},
        "checkpoint": test_json.get("checkpoint", UNKNOWN),
        **_run_facts(test_json.get("checkpoint")),
        **prov,
        "notes": notes,
        "result": result,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x") as f:  # "x": a record that appeared meanwhile is not replaced
            f.write(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    except FileExistsError as e:
        raise RecordError(f"record {name!r} appeared while writing ({path}); not "
                          "overwritten") from e
    return path


def read_records(directory: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every test-result record of ``directory``, sorted by name."""
    return [json.loads(p.read_text()) for p in sorted(Path(directory).glob("*.json"))]


def append_speed(benchmark: str, config: str, seconds: float, *, backend: str,
                 precision: str, what: str = "", batch: str = "",
                 stats: Mapping[str, float | int | None] | None = None,
                 baseline: Mapping[str, Any] | None = None,
                 command: str | Sequence[str] | None = None, notes: str = "",
                 path: Path = SPEED_FILE, **fields: Any) -> dict[str, Any]:
    """Append one speed measurement to ``records/speed.jsonl`` (one JSON line).

    Args:
        benchmark: the script, e.g. ``"bm_train_step"``.
        config: the measured configuration, e.g. ``"release_vlsm"`` (with ``what``, ``batch``,
            ``backend`` and ``precision`` it names one row of the speed table).
        seconds: the median time per step or call, seconds.
        backend: the Keras backend of ours; precision: the compute precision.
        what: what one step or call is (``"V-LSM train step, 224 px, 32^3"``).
        batch: models x views and image size (``"8x4, 224x224 px"``).
        stats: more figures, keys of :data:`SPEED_STATS` (``seconds_min``, ``seconds_max``,
            ``n``, ``first_step_s``, ``peak_rss_gb``, ``models_per_s``, ``views_per_s``).
        baseline: the same measured for a reference in the same invocation, e.g. ``{"name":
            "original release", "seconds": 4.59, "peak_rss_gb": 4.36}``.
        command: the benchmark's command line (default: this process's, :func:`command_line`).
        notes: free text.
        path: the file appended to.
        **fields: provenance to set or override (``code``, ``machine``, ``date``,
            ``software``, ``environment``).

    Returns:
        The line written, as a dict.

    Raises:
        RecordError: an unknown key in ``stats``.
    """
    bad = sorted(set(stats or {}) - set(SPEED_STATS))
    if bad:
        raise RecordError(f"unknown speed stats {bad} (known: {', '.join(SPEED_STATS)})")
    prov = provenance(command, backend=backend, precision=precision)
    prov.update(fields)
    line: dict[str, Any] = {
        "format": FORMAT, "date": prov.pop("date"), "benchmark": benchmark, "config": config,
        "what": what, "batch": batch, "backend": backend, "precision": precision,
        "seconds": float(seconds),
        **{k: v for k, v in (stats or {}).items() if v is not None},
    }
    if baseline:
        line["baseline"] = dict(baseline)
    line.update({"command": prov.pop("command"), "code": prov.pop("code"),
                 "machine": prov.pop("machine"), **prov, "notes": notes})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return line


def read_speed(path: Path = SPEED_FILE) -> list[dict[str, Any]]:
    """The speed measurements of ``path``, oldest first (empty if the file is missing)."""
    if not path.is_file():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
