#!/bin/sh
# Build the one-folder release dist/music-tagger/ and the tarball
# dist/music-tagger-VERSION-linux-ARCH.tar.gz, then print the figures as JSON.
#
# Tools live in their own virtualenv (default build/release-venv, created on first use with
# torch==2.13.0, the runtime dependencies from pyproject.toml and PyInstaller), so the
# development venv stays as it is. RELEASE_VENV=path picks another (e.g. .venv: PyInstaller
# is then installed into it). NO_TARBALL=1 skips the tarball.
#
# The release is built from a snapshot of the sources in build/release-src, so edits made
# while it builds cannot mix into it: RELEASE_SOURCE=head (default) takes the last commit,
# RELEASE_SOURCE=worktree the files as they are now (uncommitted changes included).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${RELEASE_VENV:-build/release-venv}
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
APP_ID=io.github.music_archive_tagger.MusicArchiveTagger
start=$(date +%s)

if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
fi
if ! "$PY" -c "import PyInstaller, torch, PySide6, librosa" 2>/dev/null; then
    "$PY" -m pip install --quiet torch==2.13.0
    "$PY" - <<'PYEOF' > "$VENV/runtime-deps.txt"
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
PYEOF
    "$PY" -m pip install --quiet -r "$VENV/runtime-deps.txt" pyinstaller pyinstaller-hooks-contrib
fi
tools_ready=$(date +%s)

SRC=build/release-src
rm -rf "$SRC"
mkdir -p "$SRC"
case "${RELEASE_SOURCE:-head}" in
    head) git archive HEAD tagger_core app resources | tar -x -C "$SRC" ;;
    worktree) cp -r tagger_core app resources "$SRC/" ;;
    *) echo "build_release.sh: RELEASE_SOURCE must be head or worktree" >&2; exit 2 ;;
esac
find "$SRC" -name __pycache__ -prune -exec rm -rf {} +

# Run from inside the snapshot so that it, not the checkout, is what Python imports.
# (PYTHONWARNINGS: torch's deprecated modules would flood the log while hooks import them.)
(cd "$SRC" && PYTHONWARNINGS=ignore::DeprecationWarning \
    MUSIC_TAGGER_RELEASE_SOURCE="$ROOT/$SRC" "$PY" -m PyInstaller \
    --noconfirm --clean --log-level ERROR --distpath "$ROOT/dist" \
    --workpath "$ROOT/build/pyinstaller" "$ROOT/packaging/music-tagger.spec")

RELEASE=dist/music-tagger
ln -sf music-tagger "$RELEASE/music-tagger-gui"
mkdir -p "$RELEASE/share/applications" "$RELEASE/share/metainfo" "$RELEASE/share/icons"
cp packaging/$APP_ID.desktop "$RELEASE/share/applications/"
cp packaging/$APP_ID.metainfo.xml "$RELEASE/share/metainfo/"
cp -r packaging/icons/hicolor "$RELEASE/share/icons/"
cp packaging/release/install.sh packaging/release/uninstall.sh "$RELEASE/"
built=$(date +%s)

VERSION=$("$PY" -c "import sys; sys.path.insert(0, '$SRC'); import tagger_core; print(tagger_core.__version__)")
TARBALL=""
if [ -z "${NO_TARBALL:-}" ]; then
    TARBALL="dist/music-tagger-$VERSION-linux-$(uname -m).tar.gz"
    tar -C dist -czf "$TARBALL" music-tagger
fi
done_at=$(date +%s)

release_bytes=$(du -sb "$RELEASE" | cut -f1)
tar_bytes=0
[ -n "$TARBALL" ] && tar_bytes=$(stat -c %s "$TARBALL")
cat <<JSON
{"release": "$RELEASE", "tarball": "$TARBALL", "version": "$VERSION",
 "release_bytes": $release_bytes, "tarball_bytes": $tar_bytes,
 "tools_seconds": $((tools_ready - start)), "pyinstaller_seconds": $((built - tools_ready)),
 "tarball_seconds": $((done_at - built)), "total_seconds": $((done_at - start))}
JSON
