#!/bin/sh
# Build the one-folder bundle dist/music-tagger/ and the tarball
# dist/music-tagger-VERSION-linux-ARCH.tar.gz, then print the figures as JSON.
#
# Tools live in their own virtualenv (default build/bundle-venv, created on first use with
# torch==2.13.0, the runtime dependencies from pyproject.toml and PyInstaller), so the
# development venv stays as it is. BUNDLE_VENV=path picks another (e.g. .venv: PyInstaller
# is then installed into it). NO_TARBALL=1 skips the tarball.
#
# The bundle is built from a snapshot of the sources in build/bundle-src, so edits made
# while it builds cannot mix into it: BUNDLE_SOURCE=head (default) takes the last commit,
# BUNDLE_SOURCE=worktree the files as they are now (uncommitted changes included).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${BUNDLE_VENV:-build/bundle-venv}
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

SRC=build/bundle-src
rm -rf "$SRC"
mkdir -p "$SRC"
case "${BUNDLE_SOURCE:-head}" in
    head) git archive HEAD tagger_core app resources | tar -x -C "$SRC" ;;
    worktree) cp -r tagger_core app resources "$SRC/" ;;
    *) echo "build_bundle.sh: BUNDLE_SOURCE must be head or worktree" >&2; exit 2 ;;
esac
find "$SRC" -name __pycache__ -prune -exec rm -rf {} +

# Run from inside the snapshot so that it, not the checkout, is what Python imports.
# (PYTHONWARNINGS: torch's deprecated modules would flood the log while hooks import them.)
(cd "$SRC" && PYTHONWARNINGS=ignore::DeprecationWarning \
    MUSIC_TAGGER_BUNDLE_SOURCE="$ROOT/$SRC" "$PY" -m PyInstaller \
    --noconfirm --clean --log-level ERROR --distpath "$ROOT/dist" \
    --workpath "$ROOT/build/pyinstaller" "$ROOT/packaging/music-tagger.spec")

BUNDLE=dist/music-tagger
ln -sf music-tagger "$BUNDLE/music-tagger-gui"
mkdir -p "$BUNDLE/share/applications" "$BUNDLE/share/metainfo" "$BUNDLE/share/icons"
cp packaging/$APP_ID.desktop "$BUNDLE/share/applications/"
cp packaging/$APP_ID.metainfo.xml "$BUNDLE/share/metainfo/"
cp -r packaging/icons/hicolor "$BUNDLE/share/icons/"
cp packaging/bundle/install.sh packaging/bundle/uninstall.sh "$BUNDLE/"
built=$(date +%s)

VERSION=$("$PY" -c "import sys; sys.path.insert(0, '$SRC'); import tagger_core; print(tagger_core.__version__)")
TARBALL=""
if [ -z "${NO_TARBALL:-}" ]; then
    TARBALL="dist/music-tagger-$VERSION-linux-$(uname -m).tar.gz"
    tar -C dist -czf "$TARBALL" music-tagger
fi
done_at=$(date +%s)

bundle_bytes=$(du -sb "$BUNDLE" | cut -f1)
tar_bytes=0
[ -n "$TARBALL" ] && tar_bytes=$(stat -c %s "$TARBALL")
cat <<JSON
{"bundle": "$BUNDLE", "tarball": "$TARBALL", "version": "$VERSION",
 "bundle_bytes": $bundle_bytes, "tarball_bytes": $tar_bytes,
 "tools_seconds": $((tools_ready - start)), "pyinstaller_seconds": $((built - tools_ready)),
 "tarball_seconds": $((done_at - built)), "total_seconds": $((done_at - start))}
JSON
