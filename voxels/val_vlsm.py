"""Val a VLSM (see README). Example: python voxels/val_vlsm.py --help"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, no PYTHONPATH

from training.cli import run_script  # noqa: E402

if __name__ == "__main__":
    run_script("vlsm", "val")
