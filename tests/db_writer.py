"""Child-process work for the GUI tests: write to a library, or die at once.

Module-level functions, so a spawned child can import them by name.
"""

from __future__ import annotations

import os
import time
from typing import Any


def write_settings(db_path: str, rows: int, pause_s: float) -> None:
    """Commit ``rows`` small rows one by one, then close (SQLite checkpoints on the last close)."""
    from tagger_core.db import open_library
    from tagger_core.db.models import Setting

    library = open_library(db_path, migrate=False)
    try:
        for i in range(rows):
            with library.session() as s:
                s.add(Setting(key=f"writer-{i}", value={"i": i}))
            time.sleep(pause_s)
    finally:
        library.close()


def exit_now(code: int, _report: Any, _cancel: Any) -> None:
    """A job target whose child process dies without a word (as a crash would)."""
    os._exit(code)
