#!/usr/bin/env bash
# Fetch and unpack the original LSM release's ShapeNet sample (shapenet_sample.tar.gz, about
# 8 MB: a few ShapeNet models in the release's data layout, as read by the demo notebooks).
#
#   ./download_sample.sh              archive and its folder in data/ (as the release)
#   ./download_sample.sh --dest DIR   archive and its folder in DIR instead
#   ./download_sample.sh --help       this text
#
# A copy of the archive already at DIR/shapenet_sample.tar.gz with the right md5 is unpacked
# without downloading; otherwise each known link is tried in turn and the download is checked
# against the md5 before it is unpacked. When every link fails, the script says what to fetch by
# hand and where to put it, and exits 1. An existing unpacked folder is never overwritten.
#
# Environment: LSM_SAMPLE_URL  space-separated URLs tried instead of the release's link
#              LSM_SAMPLE_MD5  md5 checked instead of the release's
set -euo pipefail

NAME=download_sample.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARCHIVE=shapenet_sample.tar.gz
SIZE="about 8 MB"
WHAT="the release's ShapeNet sample"
FOLDER=shapenet_sample
RELEASE_URL="http://people.eecs.berkeley.edu/~akar/lsm/shapenet_sample.tar.gz"
DRIVE_URL="https://drive.google.com/open?id=1qg0t_nKMBMz_GhyIUdBK2l_aNqfFewNe"
URLS=${LSM_SAMPLE_URL:-$RELEASE_URL}
MD5=${LSM_SAMPLE_MD5:-696f75abebf387af55e8e06661162926}
MD5_VAR=LSM_SAMPLE_MD5
DEFAULT_DEST=$ROOT/data

# shellcheck source=scripts/release_download.sh
source "$ROOT/scripts/release_download.sh"
# ---------------------------------------------------------------------------------------------

manual_links() {
  cat <<MSG
     or from Google Drive, "ShapeNet sample", 8M:
       $DRIVE_URL
MSG
}

next_steps() {
  local dir shown
  if [ -z "$UNPACKED" ] && [ -d "$DEST/$FOLDER" ]; then UNPACKED="$DEST/$FOLDER"; fi
  [ -n "$UNPACKED" ] || return 0
  dir=${UNPACKED%%$'\n'*}
  shown=$dir
  case "$dir" in "$ROOT"/*) shown=${dir#"$ROOT"/};; esac
  cat <<MSG
The sample is in $dir (the release's data layout, see data/layout.py).
The demo notebooks take its path as their data root: in the parameters cell of
demo_vlsm.ipynb / demo_dlsm.ipynb set
  DATA_ROOT = "$shown"
or start Jupyter from the repository root ($ROOT) with
  LSM_DEMO_DATA_ROOT=$shown jupyter lab demo_vlsm.ipynb
MSG
}

run_download
