"""Bundle entry point of both programs; the name it is started by picks one.

The bundle has one executable, ``music-tagger``, and ``music-tagger-gui`` is a symlink to
it: one frozen copy of torch and Qt instead of two, and half the build time.

``MUSIC_TAGGER_GUI_QUIT_AFTER_MS`` makes the GUI quit itself, through the normal Qt quit
path, once that many milliseconds have passed and no job (scan, analysis) is running, so
the bundle smoke test can check without a person at the screen that the window opens,
that analysis works in its spawned child process, and that the program exits cleanly.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

GUI_NAME = "music-tagger-gui"
QUIT_AFTER_ENV = "MUSIC_TAGGER_GUI_QUIT_AFTER_MS"


def run_cli() -> int:
    from tagger_core.cli import main

    return main()


def run_gui() -> int:
    from app.main import main, no_display_message

    delay = os.environ.get(QUIT_AFTER_ENV)
    if delay and no_display_message() is None:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        # app.main reuses an existing QApplication, so the timers fire inside its exec().
        app = QApplication.instance() or QApplication(sys.argv[:1])
        idle_checks = [0]

        def quit_when_idle() -> None:
            busy = any(getattr(w, "job", None) is not None for w in app.topLevelWidgets())
            idle_checks[0] = 0 if busy else idle_checks[0] + 1
            if idle_checks[0] >= 2:  # twice in a row: not the gap between scan and analysis
                app.quit()

        poll = QTimer(app)
        poll.setInterval(250)
        poll.timeout.connect(quit_when_idle)
        QTimer.singleShot(int(delay), poll.start)
    return main()


def run_child(argv: list[str]) -> int | None:
    """The GUI's helper children (file chooser, model listing) start the executable again."""
    from app.child_programs import run_if_child

    return run_if_child(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    status = run_child(sys.argv[1:])
    if status is not None:
        sys.exit(status)
    sys.exit(run_gui() if Path(sys.argv[0]).name == GUI_NAME else run_cli())
