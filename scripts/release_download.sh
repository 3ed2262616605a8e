# Shared body of get_models.sh and download_sample.sh (sourced by them, not run): argument
# parsing, download with md5 check, unpacking, and the message for a manual download. The
# sourcing script sets NAME, ROOT, ARCHIVE, SIZE, WHAT, FOLDER, RELEASE_URL, URLS, MD5,
# MD5_VAR, DEFAULT_DEST and defines manual_links and next_steps; then calls run_download.
# shellcheck shell=bash
usage() { sed -n '2,15p' "$ROOT/$NAME" | sed 's/^# \{0,1\}//'; }

DEST=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dest)
      [ $# -ge 2 ] || { echo "$NAME: --dest needs a folder (see --help)" >&2; exit 2; }
      DEST=$2; shift 2;;
    --dest=*) DEST=${1#--dest=}; shift;;
    -h|--help) usage; exit 0;;
    *) echo "$NAME: unknown option '$1' (see --help)" >&2; exit 2;;
  esac
done
RERUN="$0"
if [ -n "$DEST" ]; then
  RERUN="$0 --dest $(printf '%q' "$DEST")"
  mkdir -p -- "$DEST"
  DEST=$(cd -- "$DEST" && pwd)
else
  DEST=$DEFAULT_DEST
fi
TARGET="$DEST/$ARCHIVE"

# ---- helpers ---------------------------------------------------------------------------------
TMP_FILE=""; TMP_DIR=""
cleanup() {
  if [ -n "$TMP_FILE" ]; then rm -f -- "$TMP_FILE"; fi
  if [ -n "$TMP_DIR" ]; then rm -rf -- "$TMP_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$NAME: $*"; }
die() { echo "$NAME: $*" >&2; exit 1; }

md5_of() {  # $1 = file; prints its md5
  if command -v md5sum >/dev/null 2>&1; then
    md5sum -- "$1" | cut -d' ' -f1
  elif command -v md5 >/dev/null 2>&1; then
    md5 -q -- "$1"
  else
    die "neither md5sum nor md5 is installed: cannot verify $1"
  fi
}

fetch() {  # $1 = URL, $2 = output file; prints a one-line reason on failure
  local err rc
  if command -v curl >/dev/null 2>&1; then
    rc=0
    err=$(curl -fsSL --connect-timeout 10 --max-time 3600 --retry 0 -o "$2" -- "$1" 2>&1) || rc=$?
    if [ $rc -ne 0 ]; then echo "${err%%$'\n'*}"; [ -n "$err" ] || echo "curl exit $rc"; fi
    return $rc
  elif command -v wget >/dev/null 2>&1; then
    rc=0
    err=$(wget -nv --connect-timeout=10 --read-timeout=60 --tries=1 -O "$2" -- "$1" 2>&1) || rc=$?
    if [ $rc -ne 0 ]; then echo "wget exit $rc: ${err##*$'\n'}"; fi
    return $rc
  else
    echo "neither curl nor wget is installed"
    return 1
  fi
}

UNPACKED=""  # what unpack created, one path a line
unpack() {  # $1 = archive, into $DEST; says what it created; never replaces an existing entry
  local list names name unsafe
  list=$(tar -tzf "$1" 2>/dev/null) || die "$1 is not a readable .tar.gz: left in place, not unpacked"
  names=$(printf '%s\n' "$list" | sed -e 's#^\./##' -e 's#/.*##' | grep -v -e '^$' -e '^\.$' | sort -u || true)
  unsafe=$(printf '%s\n' "$list" | grep -E -e '^/' -e '(^|/)\.\.(/|$)' || true)
  [ -z "$unsafe" ] || die "$1 holds paths outside its folder (${unsafe%%$'\n'*}); not unpacked"
  [ -n "$names" ] || die "$1 is empty; nothing unpacked"
  while IFS= read -r name; do
    if [ -e "$DEST/$name" ] || [ -L "$DEST/$name" ]; then
      say "$DEST/$name already exists: left as it is, nothing unpacked (remove it to unpack afresh)"
      return 0
    fi
  done <<< "$names"
  TMP_DIR=$(mktemp -d "$DEST/.${ARCHIVE}.unpack.XXXXXX")
  tar -xzf "$1" -C "$TMP_DIR" --no-same-owner
  while IFS= read -r name; do
    mv -- "$TMP_DIR/$name" "$DEST/$name"
    UNPACKED+="$DEST/$name"$'\n'
    say "unpacked $DEST/$name"
  done <<< "$names"
  rm -rf -- "$TMP_DIR"; TMP_DIR=""
}

manual_help() {  # $1 = the list of links tried, one "URL: reason" a line
  cat >&2 <<MSG
$NAME: could not download $ARCHIVE ($WHAT, $SIZE) from any known link:
$1
To get it by hand:
  1. download $ARCHIVE ($SIZE) on a machine that can reach one of
       $RELEASE_URL   (the release's link)
$(manual_links)
  2. put it at
       $TARGET
  3. its md5 must be $MD5   (check: md5sum $ARCHIVE, or md5 -q on macOS)
  4. rerun  $RERUN   : it verifies the checksum and unpacks it there.
A copy with another md5 (e.g. one repacked on Drive) is refused; if you trust it, rerun with
$MD5_VAR=<its md5>.
MSG
}

obtain() {  # leaves a verified archive at $TARGET or exits 1
  local got url reason tried="" urls
  read -r -a urls <<< "$URLS"  # split on blanks, no globbing (URLs may hold '?')
  [ ${#urls[@]} -gt 0 ] || die "no URL to try (the URL override is blank)"
  if [ -e "$TARGET" ]; then
    got=$(md5_of "$TARGET")
    if [ "$got" = "$MD5" ]; then
      say "found $TARGET (md5 $MD5 OK): not downloading"
      return 0
    fi
    die "$TARGET exists but its md5 is $got, not $MD5: left in place, not unpacked.
Remove it to download again, or rerun with $MD5_VAR=$got if you trust this copy."
  fi
  for url in "${urls[@]}"; do
    say "downloading $ARCHIVE ($SIZE) from $url"
    TMP_FILE=$(mktemp "$DEST/.${ARCHIVE}.part.XXXXXX")
    if reason=$(fetch "$url" "$TMP_FILE"); then
      got=$(md5_of "$TMP_FILE")
      if [ "$got" = "$MD5" ]; then
        chmod 644 "$TMP_FILE"
        mv -f -- "$TMP_FILE" "$TARGET"; TMP_FILE=""
        say "saved $TARGET (md5 $MD5 OK)"
        return 0
      fi
      reason="downloaded, but its md5 is $got, not $MD5: the download was deleted"
      echo "$NAME: $url: $reason" >&2
    fi
    rm -f -- "$TMP_FILE"; TMP_FILE=""
    tried+="  $url: $reason"$'\n'
  done
  manual_help "${tried%$'\n'}"
  exit 1
}

run_download() {  # the whole job, after the sourcing script's definitions
  if [ -e "$DEST/$FOLDER" ]; then
    say "$DEST/$FOLDER already exists: left as it is, nothing downloaded or unpacked (remove it to unpack afresh)"
  else
    obtain
    unpack "$TARGET"
  fi
  next_steps
}
