"""The hazard, run as its own process: a GUI-like process lists its library's folder.

``python tests/in_process_listing.py DB`` opens the library at DB (WAL, a
pooled connection), shows Qt's file dialog on DB's folder in *this* process
until the folder is listed, and prints the POSIX locks it held on the library
before and after as JSON. In a process of its own so that a test never runs
a folder-listing dialog inside the test process itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main(db: str) -> int:
    from posix_locks import held_locks
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog, QFileSystemModel
    from sqlalchemy import text

    from tagger_core.db import open_library

    library = open_library(db)
    with library.session() as s:
        s.execute(text("SELECT count(*) FROM settings"))
    before = sorted(held_locks(Path(db)))
    app = QApplication([])
    dialog = QFileDialog(None, "probe", str(Path(db).parent))
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.findChild(QFileSystemModel).directoryLoaded.connect(
        lambda _path: QTimer.singleShot(500, dialog.reject)
    )
    QTimer.singleShot(20000, dialog.reject)
    dialog.exec()
    after = sorted(held_locks(Path(db)))
    print(json.dumps({"before": before, "after": after}))
    library.close()
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
