#!/bin/sh
# Smoke test of a built release (default dist/music-tagger): the programs start, tag a
# generated recording and print genres, the GUI opens offscreen and quits cleanly, and the
# GUI's start-up scan and analysis (in a spawned child process) store results.
# Needs only the release and the system python3 (for its wave module); prints JSON timings.
set -eu
RELEASE=$(cd "${1:-$(dirname "$0")/../dist/music-tagger}" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Keep the user's real data out of it.
export HOME="$WORK/home" XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config"
export XDG_CACHE_HOME="$WORK/cache" MUSIC_TAGGER_DB="$WORK/library.db"
unset MUSIC_TAGGER_RESOURCES MUSIC_TAGGER_BUNDLES MUSIC_TAGGER_TAXONOMY 2>/dev/null || true
mkdir -p "$HOME"
now() { python3 -c 'import time; print(time.monotonic())'; }
fail() { echo "smoke test FAILED: $*" >&2; exit 1; }

t0=$(now)
version=$("$RELEASE/music-tagger" --version) || fail "music-tagger --version exited $?"
t1=$(now)
case "$version" in "music-tagger "[0-9]*) ;; *) fail "unexpected --version output: $version" ;; esac

# Eight seconds of a plucked chord over a drum-like pulse, 22.05 kHz mono 16-bit.
python3 - "$WORK/song.wav" <<'PY'
import math, random, struct, sys, wave
sr, seconds = 22050, 8
random.seed(1)
frames = bytearray()
for n in range(sr * seconds):
    t = n / sr
    beat = t % 0.5
    tone = sum(math.sin(2 * math.pi * f * t) for f in (220.0, 277.2, 329.6)) * math.exp(-3 * (t % 2))
    drum = (random.random() * 2 - 1) * math.exp(-40 * beat)
    sample = max(-1.0, min(1.0, 0.25 * tone + 0.4 * drum))
    frames += struct.pack("<h", int(sample * 32000))
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(sr)
    w.writeframes(bytes(frames))
PY
t2=$(now)
"$RELEASE/music-tagger" tag --json --top 3 "$WORK/song.wav" > "$WORK/tag.json" \
    || fail "music-tagger tag exited $?"
t3=$(now)
python3 - "$WORK/tag.json" <<'PY' || fail "music-tagger tag printed no genres: $(cat "$WORK/tag.json")"
import json, sys
record = json.loads(open(sys.argv[1]).read().splitlines()[0])
genres = record["genres"]
assert genres and all(0.0 <= p <= 1.0 for p in genres.values()), genres
print("genres:", ", ".join(f"{name} {p:.2f}" for name, p in genres.items()), file=sys.stderr)
PY

# The window opens offscreen, stays a second and quits through Qt's normal path.
QT_QPA_PLATFORM=offscreen MUSIC_TAGGER_GUI_QUIT_AFTER_MS=1000 \
    timeout 120 "$RELEASE/music-tagger-gui" > "$WORK/gui.log" 2>&1 \
    || fail "music-tagger-gui exited $?: $(tail -5 "$WORK/gui.log")"
t4=$(now)
[ -f "$MUSIC_TAGGER_DB" ] || fail "the GUI did not create its library database"

# Start-up job of the GUI on a folder: scan, then analysis in a spawned child process
# (the part of a frozen program most likely to break); it quits when the jobs are done.
mkdir "$WORK/music"
cp "$WORK/song.wav" "$WORK/music/"
QT_QPA_PLATFORM=offscreen MUSIC_TAGGER_GUI_QUIT_AFTER_MS=1000 \
    timeout 400 "$RELEASE/music-tagger-gui" --library "$WORK/music" > "$WORK/gui2.log" 2>&1 \
    || fail "music-tagger-gui --library exited $?: $(tail -5 "$WORK/gui2.log")"
t5=$(now)
python3 - "$MUSIC_TAGGER_DB" <<'PY' || fail "the GUI stored no analysis: $(tail -5 "$WORK/gui2.log")"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tracks = db.execute("SELECT count(*) FROM tracks").fetchone()[0]
analyses = db.execute("SELECT count(*) FROM analyses").fetchone()[0]
assert tracks == 1 and analyses >= 1, (tracks, analyses)
PY

# install.sh / uninstall.sh into a scratch prefix: commands, menu entry, icons, then gone.
PREFIX="$WORK/prefix" sh "$RELEASE/install.sh" > /dev/null || fail "install.sh exited $?"
[ "$("$WORK/prefix/bin/music-tagger" --version)" = "$version" ] \
    || fail "the installed music-tagger does not start"
entry="$WORK/prefix/share/applications/io.github.music_archive_tagger.MusicArchiveTagger.desktop"
grep -q "^Exec=$WORK/prefix/lib/music-archive-tagger/music-tagger-gui" "$entry" \
    || fail "the installed desktop entry does not point at the installed program"
[ -f "$WORK/prefix/share/icons/hicolor/48x48/apps/io.github.music_archive_tagger.MusicArchiveTagger.png" ] \
    || fail "install.sh did not install the icons"
sh "$WORK/prefix/lib/music-archive-tagger/uninstall.sh" > /dev/null \
    || fail "uninstall.sh exited $?"
[ ! -e "$WORK/prefix/lib/music-archive-tagger" ] && [ ! -e "$WORK/prefix/bin/music-tagger" ] \
    && [ ! -e "$entry" ] || fail "uninstall.sh left the program behind"
[ -f "$MUSIC_TAGGER_DB" ] || fail "uninstall.sh removed the library database"

python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$version" <<'PY'
import json, sys
t0, t1, t2, t3, t4, t5 = map(float, sys.argv[1:7])
print(json.dumps({"smoke": "ok", "version": sys.argv[7],
                  "version_seconds": round(t1 - t0, 2), "tag_seconds": round(t3 - t2, 2),
                  "gui_open_seconds": round(t4 - t3, 2),
                  "gui_scan_analyse_seconds": round(t5 - t4, 2)}))
PY
