"""``music-tagger-gui``: open the main window on a library database.

Without a display (no ``$DISPLAY``/``$WAYLAND_DISPLAY`` and no
``$QT_QPA_PLATFORM``) Qt would abort with a long plugin error, so we say in one
line what is wrong and how to run headless, and exit with status 3.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

ORGANISATION = "music-archive-tagger"
APPLICATION = "Music Archive Tagger"
NO_DISPLAY_EXIT = 3


def no_display_message() -> str | None:
    """The one-line hint when there is no display to open a window on; None when there is."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None
    if sys.platform in ("win32", "darwin"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "music-tagger-gui: no display found (DISPLAY/WAYLAND_DISPLAY unset); run it headless "
        "with `QT_QPA_PLATFORM=offscreen music-tagger-gui` or `xvfb-run music-tagger-gui`, "
        "or use the `music-tagger` command line."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="music-tagger-gui", description="Music Archive Tagger desktop application."
    )
    parser.add_argument(
        "--db",
        help="library database: an SQLite file or a postgresql+psycopg://user@host/db URL "
        "(default: $MUSIC_TAGGER_DB or the user data dir)",
    )
    parser.add_argument(
        "--library",
        metavar="FOLDER",
        help="music folder to add, scan and analyse when the window opens",
    )
    parser.add_argument(
        "--scan-default",
        action="store_true",
        help="scan and analyse the default library ($LIBRARY, ~/Music or the demo) on opening",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``music-tagger-gui`` script; returns the exit status."""
    import multiprocessing

    multiprocessing.freeze_support()  # analysis runs in spawned children, also when frozen
    args = build_parser().parse_args(argv)
    hint = no_display_message()
    if hint:
        print(hint, file=sys.stderr)
        return NO_DISPLAY_EXIT

    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.main_window import MainWindow
    from tagger_core.db import open_library
    from tagger_core.errors import TaggerError

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    try:
        library = open_library(args.db)
    except TaggerError as err:
        print(f"music-tagger-gui: error: {err}", file=sys.stderr)
        return 2
    folder = args.library
    if folder is None and args.scan_default:
        from tagger_core.library.default_root import default_library_path

        folder = str(default_library_path())
    window = MainWindow(library)
    window.show()
    import gc

    gc.freeze()  # start-up objects leave the collector's view: shorter pauses on the UI thread
    if folder:
        try:
            window.scan_then_analyse([folder])
        except TaggerError as err:
            QMessageBox.warning(window, APPLICATION, str(err))
    try:
        return int(app.exec())
    finally:
        shown: MainWindow | None = window  # connecting to a shared library opens a new window
        while shown is not None:
            shown.library.close()
            shown = shown.successor


if __name__ == "__main__":
    sys.exit(main())
