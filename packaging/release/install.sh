#!/bin/sh
# Install this Music Archive Tagger release for the current user (no root needed):
#   program files  -> ${PREFIX:-~/.local}/lib/music-archive-tagger/
#   commands       -> ${PREFIX:-~/.local}/bin/music-tagger, music-tagger-gui (symlinks)
#   menu entry, icons, AppStream metadata -> ${PREFIX:-~/.local}/share/...
# Your library database and settings are not in the release and are never touched.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-$HOME/.local}
APP_ID=io.github.music_archive_tagger.MusicArchiveTagger
DEST=$PREFIX/lib/music-archive-tagger

if [ "$HERE" != "$DEST" ]; then
    rm -rf "$DEST.new"
    mkdir -p "$PREFIX/lib"
    cp -a "$HERE" "$DEST.new"
    rm -rf "$DEST"
    mv "$DEST.new" "$DEST"
fi
mkdir -p "$PREFIX/bin" "$PREFIX/share/applications" "$PREFIX/share/metainfo"
ln -sf "$DEST/music-tagger" "$PREFIX/bin/music-tagger"
ln -sf "$DEST/music-tagger-gui" "$PREFIX/bin/music-tagger-gui"
sed -e "s|^Exec=music-tagger-gui|Exec=$DEST/music-tagger-gui|" \
    -e "s|^TryExec=music-tagger-gui|TryExec=$DEST/music-tagger-gui|" \
    "$DEST/share/applications/$APP_ID.desktop" > "$PREFIX/share/applications/$APP_ID.desktop"
cp "$DEST/share/metainfo/$APP_ID.metainfo.xml" "$PREFIX/share/metainfo/"
for icon in "$DEST"/share/icons/hicolor/*/apps/*; do
    rel=${icon#"$DEST/share/"}
    mkdir -p "$PREFIX/share/$(dirname "$rel")"
    cp "$icon" "$PREFIX/share/$rel"
done
command -v update-desktop-database >/dev/null 2>&1 \
    && update-desktop-database -q "$PREFIX/share/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 \
    && gtk-update-icon-cache -q -t "$PREFIX/share/icons/hicolor" || true
echo "Installed into $DEST; commands in $PREFIX/bin (make sure it is on your PATH)."
