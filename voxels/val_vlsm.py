"""Val a VLSM (see README). Example: python voxels/val_vlsm.py --help"""

try:
    from training.cli import run_script
except ModuleNotFoundError as e:
    if e.name != "training":
        raise
    raise SystemExit("the lsm project is not installed in this Python: run `make venv` in the "
                     "repository (or `pip install -e .` there)") from None

if __name__ == "__main__":
    run_script("vlsm", "val")
