#!/bin/sh
# Remove what install.sh put in place. The library database, the demo library and the
# settings (see the README, "Where data and settings live") are left alone on purpose.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PREFIX:-}" ]; then
    # Installed copy: HERE is PREFIX/lib/music-archive-tagger.
    case "$HERE" in
        */lib/music-archive-tagger) PREFIX=${HERE%/lib/music-archive-tagger} ;;
        *) PREFIX=$HOME/.local ;;
    esac
fi
APP_ID=io.github.music_archive_tagger.MusicArchiveTagger
rm -f "$PREFIX/bin/music-tagger" "$PREFIX/bin/music-tagger-gui"
rm -f "$PREFIX/share/applications/$APP_ID.desktop" "$PREFIX/share/metainfo/$APP_ID.metainfo.xml"
rm -f "$PREFIX"/share/icons/hicolor/*/apps/"$APP_ID".png "$PREFIX"/share/icons/hicolor/*/apps/"$APP_ID".svg
rm -rf "$PREFIX/lib/music-archive-tagger"
echo "Removed the program. Your library database and settings were kept."
