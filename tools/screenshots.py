"""Screenshots of each main view, taken on the demo library, for the README.

Run under a virtual X server so the real window system draws them:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tools/screenshots.py

It builds a throwaway library: the demo clips plus ``--extra`` more synthesised,
tagged clips (so the calibration panel has enough labelled tracks to fit),
scans and analyses them with the shipped models through the GUI's own actions,
then saves ``library.png``, ``albums.png``, ``review.png``, ``calibration.png`` and
``export.png`` in ``docs/screenshots/``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STYLES = {
    "rock": ("Rock",),
    "electronic": ("Electronic",),
    "piano": ("Classical",),
    "strings": ("Classical",),
    "jazz": ("Jazz",),
    "ambient": ("Ambient",),
}


def make_extra_clips(folder: Path, n: int, seconds: float) -> None:
    """``n`` more synthesised clips in rotating styles, tagged with their genre."""
    from tagger_core.library.demo import DemoClip, synthesise, write_audio, write_tags

    folder.mkdir(parents=True, exist_ok=True)
    styles = list(STYLES)
    for i in range(n):
        style = styles[i % len(styles)]
        name = f"{i + 11:02d} {style.title()} Study {i // len(styles) + 1}.flac"
        path = folder / name
        if path.exists():
            continue
        clip = DemoClip(
            name,
            style,
            f"{style.title()} Study {i // len(styles) + 1}",
            "Synth Workshop",
            f"Studies in {style.title()}",
            STYLES[style],
            2020,
        )
        write_audio(path, synthesise(style, seconds, seed=100 + i))
        write_tags(path, clip)


def wait(app, predicate, timeout: float = 1800.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("the GUI did not finish in time")
        app.processEvents()
        time.sleep(0.02)


def settle(app, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--extra", type=int, default=36, help="extra clips for calibration")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the extra clips")
    parser.add_argument("--work", help="folder for the library (default: a temp folder)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from tagger_core.db import open_library
    from tagger_core.library.demo import ensure_demo_library

    app = QApplication(sys.argv[:1])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="screenshots-"))
    music = ensure_demo_library(work / "Demo library")
    make_extra_clips(music / "Studies", args.extra, args.seconds)
    library = open_library(work / "library.db")
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(library, settings)
    window.resize(1600, 960)
    window.show()
    settle(app)

    def run(start) -> None:
        start()
        wait(app, lambda: window.job is None)
        if window.last_error:
            raise SystemExit(f"screenshots: {window.last_error}")
        print(window.status_text.text(), flush=True)

    run(lambda: window.scan_folders([str(music)]))
    run(window.analyse_all)
    window.refresh_library()
    window.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    titles = [window.model.data(window.model.index(r, 0)) for r in range(window.model.rowCount())]
    window.table.selectRow(
        titles.index("Four on the Floor") if "Four on the Floor" in titles else 0
    )
    wait(app, lambda: window.detail.audio is not None, 120)
    settle(app)
    window.grab().save(str(out / "library.png"))

    # The album view: the largest album, one whose tracks disagree when there is one.
    from tagger_core.trust.albums import album_task_predictions

    with library.session() as s:
        keys = [a.key for a in window.albums.albums]
        found = album_task_predictions(s, keys)
    flagged = {k for k, p in found.items() if any(x.flagged for x in p.values())}
    album = max(window.albums.albums, key=lambda a: (a.key in flagged, a.tracks))
    window.albums.select_view(album.view)
    settle(app)
    window.table.selectRow(0)
    wait(app, lambda: window.detail.audio is not None, 120)
    settle(app)
    window.grab().save(str(out / "albums.png"))

    window.act_review.trigger()
    settle(app)
    window.review.move_cursor(1)
    window.review.toggle_label()  # one decision, so the marks show
    window.review.move_cursor(1)
    settle(app)
    window.grab().save(str(out / "review.png"))

    panel = window.calibration
    window.act_calibration.trigger()  # loads the calibration set on first visit
    wait(app, lambda: window.job is None)
    panel.folds.setValue(2)
    panel.method.setCurrentIndex(panel.method.findData("temperature"))
    panel.use_tags.setChecked(True)  # starts a reload
    wait(app, lambda: window.job is None)
    if panel.data is None:
        run(panel.reload)
    run(panel.fit)
    settle(app)
    window.grab().save(str(out / "calibration.png"))

    window.tabs.setCurrentIndex(0)
    dialog = window.open_export()
    dialog.resize(1100, 760)
    dialog.use_confidence.setChecked(True)
    dialog.min_confidence.setValue(0.5)
    run(dialog.preview)
    settle(app)
    dialog.grab().save(str(out / "export.png"))
    dialog.close()
    window.close()
    library.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
