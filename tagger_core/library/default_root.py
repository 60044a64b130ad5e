"""Which folder is "the library" when none is named: ``$LIBRARY``, ~/Music, or the demo.

Why in the core: ``music-tagger run`` and the desktop window's first start pick the
same folder, so the rule lives once, below both.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_library_path(explicit: str | None = None) -> Path:
    """LIBRARY given, else ~/Music if it exists, else the generated demo library."""
    chosen = explicit or os.environ.get("LIBRARY")
    if chosen:
        return Path(chosen).expanduser()
    music = Path.home() / "Music"
    if music.is_dir():
        return music
    from tagger_core.library.demo import ensure_demo_library  # synthesises audio: only now

    return ensure_demo_library()
