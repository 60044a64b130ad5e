"""How fast the main window opens and moves on a generated 100,000-track library.

Prints JSON: seconds to build and show the window (first page painted), to
scroll to the last row, to sort by each column, and to filter with the search
box (all SQL; the model keeps only a few pages of rows). The database is
generated with one bulk insert in a temp folder (generation time is reported
separately). Usage: QT_QPA_PLATFORM=offscreen python bench/gui_open.py [--tracks N]
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

from library_rows import fill_library  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from tagger_core.library.track_views import COLUMN_KEYS  # noqa: E402


def timed(fn, app: QApplication) -> float:
    start = time.perf_counter()
    fn()
    app.processEvents()
    return round(time.perf_counter() - start, 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=100_000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        library = fill_library(Path(tmp) / "bench.db", args.tracks)
        generate = time.perf_counter() - t0
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        holder: dict[str, MainWindow] = {}

        def open_window() -> None:
            holder["w"] = MainWindow(library, settings)
            holder["w"].show()

        result: dict[str, object] = {
            "tracks": args.tracks,
            "platform": os.environ.get("QT_QPA_PLATFORM"),
            "generate_db_s": round(generate, 2),
            "open_window_s": timed(open_window, app),
        }
        w = holder["w"]
        result["scroll_to_end_s"] = timed(w.table.scrollToBottom, app)
        sorts = {}
        for col, key in enumerate(COLUMN_KEYS):
            sorts[key] = timed(
                lambda c=col: w.table.sortByColumn(c, Qt.SortOrder.DescendingOrder), app
            )
        result["sort_s"] = sorts
        result["filter_s"] = timed(lambda: w.model.set_filter("Artist 042"), app)
        result["filtered_rows"] = w.model.rowCount()
        result["rows_cached"] = w.model.cached_rows
        result["rows_fetched_total"] = w.model.rows_fetched
        w.close()
        library.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
