"""Recorded results: record a test run, and render RESULTS.md, docs/speed.md and the README's
results block from the records (see :mod:`training.records` for the format).

Usage::

    python voxels/test_vlsm.py --log RUN --test_split_file data/splits.json   # writes test_*.json
    python scripts/results.py record RUN/test_mvnet-N_test_full-splits.json --name my_run \\
        --experiment vlsm_full --label "my V-LSM" --train_command "python voxels/train_vlsm.py ..."
    python scripts/results.py render            # RESULTS.md, docs/speed.md, README block
    python scripts/results.py render --check    # exit 1 if any of them differs from a render

A record is never overwritten: ``record`` refuses a name that exists in one line. ``--title``
adds a new experiment (a new table of RESULTS.md) under ``--experiment``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training import records
from training.records_render import (
    render_readme_block,
    render_results,
    render_speed,
    replace_readme_block,
)

REPO = records.REPO


def _record(a: argparse.Namespace) -> int:
    try:
        test_json = json.loads(Path(a.test_json).read_text())
    except (OSError, ValueError) as e:
        print(f"results.py: cannot read {a.test_json}: {e}", file=sys.stderr)
        return 1
    fields = {}
    if a.here and "provenance" not in test_json:  # written before tests recorded their own
        here = records.provenance(records.UNKNOWN)
        fields = {k: here[k] for k in ("code", "machine", "software", "backend")}
    if a.command:
        fields["command"] = a.command
    try:
        if a.title:
            records.add_experiment(a.experiment, a.title, a.about or "",
                                   path=a.records / "experiments.json")
        path = records.record(
            test_json, a.name, a.experiment, label=a.label, train_command=a.train_command,
            notes=a.notes or "", directory=a.records / "results", **fields,
            known_experiments=[e["id"] for e in
                               records.experiments(a.records / "experiments.json")])
    except records.RecordError as e:
        print(f"results.py: {e}", file=sys.stderr)
        return 1
    print(f"recorded {path}; now run: python scripts/results.py render")
    return 0


def rendered(records_dir: Path, repo: Path = REPO) -> dict[Path, str]:
    """What ``render`` writes: ``{path: text}`` for RESULTS.md, docs/speed.md and README.md."""
    exps = records.experiments(records_dir / "experiments.json")
    recs = records.read_records(records_dir / "results")
    out = {repo / "RESULTS.md": render_results(exps, recs),
           repo / "docs" / "speed.md": render_speed(records.read_speed(
               records_dir / "speed.jsonl"))}
    readme = repo / "README.md"
    if readme.is_file():
        out[readme] = replace_readme_block(readme.read_text(), render_readme_block(exps, recs))
    return out


def _render(a: argparse.Namespace) -> int:
    try:
        files = rendered(a.records)
    except ValueError as e:
        print(f"results.py: {e}", file=sys.stderr)
        return 1
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
    if a.check:
        for p in stale:
            print(f"results.py: {p.relative_to(REPO)} differs from a fresh render "
                  "(run: python scripts/results.py render)", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(files[p])
        print(f"wrote {p.relative_to(REPO)}")
    if not stale:
        print("RESULTS.md, docs/speed.md and README.md are up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=Path, default=records.RECORDS,
                   help="the records folder (default: records/ of the repository)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="record a test run's .json as records/results/NAME.json")
    r.add_argument("test_json", help="the .json that test_vlsm.py / test_dlsm.py wrote")
    r.add_argument("--name", required=True, help="the record's name (its file name)")
    r.add_argument("--experiment", required=True,
                   help="the table it is a row of (an id of records/experiments.json)")
    r.add_argument("--label", help="its row name in the table (default: --name)")
    r.add_argument("--title", help="create the experiment --experiment with this title")
    r.add_argument("--about", help="with --title: a paragraph shown above its table")
    r.add_argument("--train_command", help="the command that trained the model")
    r.add_argument("--notes", help="free text shown under the table")
    r.add_argument("--command", help="the test command, for a .json that does not record it")
    r.add_argument("--here", action="store_true",
                   help="for a .json that does not record where it was made: it was made on "
                        "this machine from this checkout (take the code version and machine "
                        "from here)")
    r.set_defaults(run=_record)
    s = sub.add_parser("render", help="write RESULTS.md, docs/speed.md and the README block")
    s.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a file differs from a fresh render")
    s.set_defaults(run=_render)
    a = p.parse_args(argv)
    return a.run(a)


if __name__ == "__main__":
    sys.exit(main())
