#!/usr/bin/env bash
# Prepare data for LSM in the release layout (see data/layout.py).
#
#   ./prepare_data.sh                       build the synthetic `small` set   -> datasets/small
#   ./prepare_data.sh --size full           build the synthetic `full` set    -> datasets/full
#   ./prepare_data.sh --meshes DIR --root datasets/mine [--up y|z]
#                                           build from your own meshes (class = folder name)
#   ./prepare_data.sh --shapenet FILE.tar.gz [--root datasets/shapenet]
#                                           unpack and validate the original ShapeNet release
#   ./prepare_data.sh --download [--root datasets/shapenet]
#                                           try the original release's download links
#
# Environment: PYTHON (default .venv/bin/python if present, else python3).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

SIZE=small; ROOT=""; MESHES=""; UP=y; TARBALL=""; DOWNLOAD=0; WORKERS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2;;
    --root) ROOT=$2; shift 2;;
    --meshes) MESHES=$2; shift 2;;
    --up) UP=$2; shift 2;;
    --shapenet) TARBALL=$2; shift 2;;
    --download) DOWNLOAD=1; shift;;
    --workers) WORKERS="--workers $2"; shift 2;;
    -h|--help) sed -n '2,14p' "$0"; exit 0;;
    *) echo "prepare_data.sh: unknown option '$1' (see --help)" >&2; exit 2;;
  esac
done

# The release's archive (21 GB: renders, depth, cameras, voxels) and its voxels-only archive.
RELEASE_URL="https://drive.google.com/open?id=17GjULuQZsn-s92PQFQSBzezDkonowIxR"
VOXELS_URL="https://drive.google.com/open?id=1nDGpXqnde5YhT4zob5bPmpwHGahlWUNl"

validate_shapenet() {  # $1 = data root
  $PY -m data.check --root "$1" --max_models 5 --quiet
}

if [ $DOWNLOAD -eq 1 ]; then
  ROOT=${ROOT:-datasets/shapenet}
  echo "Trying the original release link: $RELEASE_URL"
  if curl -fsSL --max-time 20 -o /dev/null "$RELEASE_URL" 2>/dev/null; then
    echo "The link answered, but Google Drive serves a confirmation page, not the archive." >&2
  else
    echo "The original download link does not answer from this machine (dead link or no network)." >&2
  fi
  cat >&2 <<MSG
To use the original ShapeNet renders:
  1. download the release archive (ShapeNet renderings + voxels, about 21 GB) from
     $RELEASE_URL
     (voxels only, 58 MB: $VOXELS_URL) on a machine that can reach it;
  2. copy the .tar.gz here and run:  ./prepare_data.sh --shapenet <archive.tar.gz> --root $ROOT
  3. train with --data_root $ROOT --split_file <the release's splits.json>.
Without it, the synthetic dataset works out of the box:  ./prepare_data.sh --size small
MSG
  exit 1
fi

if [ -n "$TARBALL" ]; then
  ROOT=${ROOT:-datasets/shapenet}
  if [ ! -f "$TARBALL" ]; then
    echo "prepare_data.sh: archive not found: $TARBALL" >&2; exit 1
  fi
  mkdir -p "$ROOT"
  echo "Unpacking $TARBALL into $ROOT (this takes a while for the 21 GB release)"
  tar -xzf "$TARBALL" -C "$ROOT"
  # the release archive holds a top folder (e.g. shapenet_release/) with renders/ and voxels/
  if [ ! -d "$ROOT/renders" ]; then
    inner=$(find "$ROOT" -maxdepth 2 -type d -name renders | head -1)
    if [ -z "$inner" ]; then
      echo "prepare_data.sh: $TARBALL holds no renders/ folder: not an LSM release archive" >&2
      exit 1
    fi
    top=$(dirname "$inner")
    for d in "$top"/*; do mv "$d" "$ROOT"/; done
    rmdir "$top" 2>/dev/null || true
  fi
  validate_shapenet "$ROOT"
  exit 0
fi

if [ -n "$MESHES" ]; then
  if [ -z "$ROOT" ]; then echo "prepare_data.sh: --meshes needs --root" >&2; exit 2; fi
  $PY -m data.build meshes --input "$MESHES" --root "$ROOT" --up "$UP" $WORKERS
  $PY -m data.check --root "$ROOT" --split "$ROOT/splits.json" --quiet
  exit 0
fi

ROOT=${ROOT:-datasets/$SIZE}
$PY -m data.build synth --size "$SIZE" --root "$ROOT" $WORKERS
$PY -m data.check --root "$ROOT" --split "$ROOT/splits.json" --max_models 20 --quiet
