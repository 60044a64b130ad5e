"""Bundle entry point of ``music-tagger`` (PyInstaller needs a script, not an entry point)."""

from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from tagger_core.cli import main

    sys.exit(main())
