#!/bin/sh
# Build the one-folder bundle dist/music-tagger/ and the tarball
# dist/music-tagger-VERSION-linux-ARCH.tar.gz, then print the figures as JSON.
#
# Tools live in their own virtualenv (default build/bundle-venv, created on first use with
# torch==2.13.0, the runtime dependencies from pyproject.toml and PyInstaller), so the
# development venv stays as it is. BUNDLE_VENV=path picks another (e.g. .venv: PyInstaller
# is then installed into it). NO_TARBALL=1 skips the tarball.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${BUNDLE_VENV:-build/bundle-venv}
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

"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/music-tagger.spec

BUNDLE=dist/music-tagger
mkdir -p "$BUNDLE/share/applications" "$BUNDLE/share/metainfo" "$BUNDLE/share/icons"
cp packaging/$APP_ID.desktop "$BUNDLE/share/applications/"
cp packaging/$APP_ID.metainfo.xml "$BUNDLE/share/metainfo/"
cp -r packaging/icons/hicolor "$BUNDLE/share/icons/"
cp packaging/bundle/install.sh packaging/bundle/uninstall.sh "$BUNDLE/"
built=$(date +%s)

VERSION=$("$PY" -c "import sys; sys.path.insert(0, '.'); import tagger_core; print(tagger_core.__version__)")
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
