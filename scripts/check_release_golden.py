"""Compare this project's V-LSM / D-LSM with golden data saved from the original release's graph.

    python scripts/check_release_golden.py ../shared/reference/release_golden/vlsm_release \
        ../shared/reference/release_golden/dlsm_release [--steps 3]

Each folder holds a release model folder ``train/`` (args.json + TF1 checkpoint) and
``golden.npz`` (see :mod:`training.golden`; more folders are made with
``../shared/tools/orig/make_golden.py``). Prints one table per folder and exits 1 if any
quantity is outside its bound.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="golden folders (train/ + golden.npz)")
    p.add_argument("--steps", type=int, default=None,
                   help="check only the first N of the golden's next training losses")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from training.golden import compare_golden, format_checks
    from training.release import ReleaseError

    failed = 0
    for folder in a.folders:
        t0 = time.perf_counter()
        try:
            checks = compare_golden(folder, train_steps=a.steps)
        except ReleaseError as e:
            print(f"{folder}: {e}", file=sys.stderr)
            failed += 1
            continue
        bad = [c.name for c in checks if not c.ok]
        failed += bool(bad)
        print(f"\n{folder} ({time.perf_counter() - t0:.0f} s): "
              f"{'all within bounds' if not bad else 'FAILED: ' + ', '.join(bad)}")
        print(format_checks(checks))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
