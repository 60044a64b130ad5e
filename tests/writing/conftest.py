"""Fixtures for export tests: real tagged files of every format, scanned into a library."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from audio_files import make_audio, tag_file

from .helpers import AVAILABLE


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One short tagged file per format, made once; tests copy them."""
    folder = tmp_path_factory.mktemp("templates")
    out = {}
    for i, ext in enumerate(AVAILABLE):
        path = folder / f"template{ext}"
        make_audio(path, seconds=0.6, seed=i)
        tag_file(path, title=f"Title {ext}", genres=["Duo Cello/Klavier", "Rock"])
        out[ext] = path
    return out


@pytest.fixture
def make_files(templates: dict[str, Path]):
    """Copy templates into a folder: ``make_files(folder, exts, n)`` → list of paths."""

    def make(folder: Path, exts: list[str] | None = None, copies: int = 1) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for ext in exts or AVAILABLE:
            for k in range(copies):
                target = folder / f"track{k:03d}{ext}"
                shutil.copyfile(templates[ext], target)
                paths.append(target)
        return paths

    return make
