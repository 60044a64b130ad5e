"""Bundle entry point of ``music-tagger-gui``.

``MUSIC_TAGGER_GUI_QUIT_AFTER_MS`` makes the window close itself after that many
milliseconds through the normal Qt quit path, so the bundle smoke test can check
that the GUI starts and exits cleanly without a person at the screen.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

QUIT_AFTER_ENV = "MUSIC_TAGGER_GUI_QUIT_AFTER_MS"


def _schedule_quit() -> None:
    """Create the QApplication early and arm a quit timer when the smoke test asks."""
    delay = os.environ.get(QUIT_AFTER_ENV)
    if not delay:
        return
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    QTimer.singleShot(int(delay), app.quit)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    from app.main import main, no_display_message

    if no_display_message() is None:
        _schedule_quit()
    sys.exit(main())
