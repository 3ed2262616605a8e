#!/usr/bin/env bash
# Fetch and unpack the original LSM release's pretrained models (models_lsm_v1_small.tar.gz,
# about 70 MB: V-LSM and D-LSM TF1 checkpoints with their args.json) into models_lsm_v1/.
#
#   ./get_models.sh               archive and models_lsm_v1/ in the repository root (as the release)
#   ./get_models.sh --dest DIR    archive and models_lsm_v1/ in DIR instead
#   ./get_models.sh --help        this text
#
# A copy of the archive already at DIR/models_lsm_v1_small.tar.gz with the right md5 is unpacked
# without downloading; otherwise each known link is tried in turn and the download is checked
# against the md5 before it is unpacked. When every link fails, the script says what to fetch by
# hand and where to put it, and exits 1. An existing models_lsm_v1/ is never overwritten.
#
# Environment: LSM_MODELS_URL  space-separated URLs tried instead of the release's link
#              LSM_MODELS_MD5  md5 checked instead of the release's
set -euo pipefail

NAME=get_models.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARCHIVE=models_lsm_v1_small.tar.gz
SIZE="about 70 MB"
WHAT="the LSM v1 pretrained models"
FOLDER=models_lsm_v1
RELEASE_URL="http://people.eecs.berkeley.edu/~akar/lsm/models_lsm_v1_small.tar.gz"
DRIVE_URL="https://drive.google.com/file/d/1HAZuKWYxYybDMqb6RA5PLvUes52x3dhm/view?usp=sharing"
DRIVE_LOGS_URL="https://drive.google.com/open?id=13ETx5zcYS2chDWfPUA_0mpdM3WyorobI"
URLS=${LSM_MODELS_URL:-$RELEASE_URL}
MD5=${LSM_MODELS_MD5:-8955572bb300a52a8b0dcf78d7e47b19}
MD5_VAR=LSM_MODELS_MD5
DEFAULT_DEST=$ROOT

# shellcheck source=scripts/release_download.sh
source "$ROOT/scripts/release_download.sh"
# ---------------------------------------------------------------------------------------------

manual_links() {
  cat <<MSG
     or from Google Drive, "LSM v1 (models only)", 70M:
       $DRIVE_URL
     (Drive also has "LSM v1 (with logs)", 1.7G, the models with their training logs, a
      different archive that this script does not check: $DRIVE_LOGS_URL )
MSG
}

next_steps() {
  local log=$FOLDER
  if [ "$DEST" != "$ROOT" ]; then log="$DEST/$FOLDER"; fi
  local run ckpts
  if [ -d "$DEST/$FOLDER" ]; then
    say "run folders in $DEST/$FOLDER (checkpoints):"
    find "$DEST/$FOLDER" -name args.json | sort | while IFS= read -r run; do
      run=$(dirname "$run")
      ckpts=$(find "$run" -maxdepth 1 -name '*.index' -exec basename {} .index \; | sort | tr '\n' ' ')
      ckpts=${ckpts% }
      echo "  $run (${ckpts:-no checkpoint found})"
    done
  fi
  cat <<MSG
Next, from the repository root ($ROOT), evaluate the release's checkpoints
(--ckpt is the checkpoint's name, e.g. mvnet-100000 for both runs of the release):
  python voxels/test_vlsm.py --log $log/vlsm-release/train --ckpt mvnet-100000 --test_split_file data/splits.json
  python depth/test_dlsm.py --log $log/dlsm-release/train --ckpt mvnet-100000 --test_split_file data/splits.json
or convert one into a Keras run folder:
  python scripts/convert_release.py --log $log/vlsm-release/train --ckpt mvnet-100000 --out log/vlsm-release
MSG
}

run_download
