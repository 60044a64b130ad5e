"""How long the GUI's event loop stalls while a scan and an analysis run.

Prints JSON: the longest gap between ticks of a 5 ms QTimer on the UI thread,
its 99th percentile and the tick count, during (1) a scan of generated files
through the window's scan action and (2) an analysis through the Analyse-all
action (small real models from ``tests/tiny_bundle.py``, run in the child
process the GUI uses). Target: longest gap under 50 ms. The machine's load
average is printed too, since on a busy 2-core machine the OS alone can
deschedule the UI thread for tens of milliseconds.
Usage: QT_QPA_PLATFORM=offscreen python bench/gui_responsiveness.py [--files N] [--tracks N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def measure(app, window, start) -> dict[str, float]:
    from event_loop_ticks import TickGaps

    with TickGaps() as ticks:
        start()
        while window.job is not None:
            app.processEvents()
            time.sleep(0.001)
    if window.last_error:
        raise SystemExit(window.last_error)
    return {
        "longest_gap_ms": max(ticks.gaps, default=0),
        "p99_gap_ms": ticks.p99,
        "ticks": len(ticks.gaps),
        "seconds": round(ticks.clock.elapsed() / 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300, help="files to scan")
    parser.add_argument("--tracks", type=int, default=8, help="tracks to analyse (3 s each)")
    args = parser.parse_args()

    from audio_files import make_audio
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from tiny_bundle import make_tiny_bundle

    from app.main_window import MainWindow
    from tagger_core.db import open_library

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tiny_bundle(root / "bundles", "tiny-bench", seed=3)
        os.environ["MUSIC_TAGGER_BUNDLES"] = str(root / "bundles")
        (root / "scan").mkdir()
        template = make_audio(root / "template.wav", seconds=0.3)
        for i in range(args.files):
            os.link(template, root / "scan" / f"{i:05d}.wav")
        (root / "analyse").mkdir()
        for i in range(args.tracks):
            make_audio(root / "analyse" / f"{i:03d}.wav", seconds=3.0, seed=i)
        library = open_library(root / "bench.db")
        window = MainWindow(library, QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
        window.show()
        result: dict[str, object] = {"load_average": os.getloadavg()[0]}
        result["scan"] = measure(app, window, lambda: window.scan_folders([str(root / "scan")]))
        window.scan_folders([str(root / "analyse")])
        while window.job is not None:
            app.processEvents()
            time.sleep(0.01)
        window.analysis_options = {"bundles": ["tiny-bench"], "batch_size": 4, "workers": 1}
        result["analysis"] = measure(app, window, window.analyse_all)
        result["analysis"]["tracks"] = window.last_report.tracks_done  # type: ignore[index]
        window.close()
        library.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
