from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def library(tmp_path: Path):
    """A fresh, migrated library database in a temp folder."""
    from tagger_core.db import open_library

    lib = open_library(tmp_path / "library.db")
    yield lib
    lib.close()
