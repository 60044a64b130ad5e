"""``music-tagger analyze --engine ray``: the options and their one-line errors.

Runs on a real cluster are in ``tests/listening/test_ray_engine.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_files import make_audio

from tagger_core.cli import main

pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")


@pytest.fixture
def music(tmp_path: Path) -> Path:
    folder = tmp_path / "music"
    folder.mkdir()
    make_audio(folder / "one.flac", seconds=2.5, seed=1, style="rock")
    return folder


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path, music, capsys) -> None:
    db = str(tmp_path / "lib.db")
    args = ["--db", db, "analyze", str(music), "--engine", "ray", "--ray-address", "127.0.0.1:9"]
    code = main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("music-tagger: error: cannot reach the Ray cluster at 127.0.0.1:9")


def test_ray_address_needs_the_ray_engine(tmp_path, music, capsys) -> None:
    code = main(["--db", str(tmp_path / "lib.db"), "analyze", str(music), "--ray-address", "auto"])
    assert code == 2 and "--ray-address needs --engine ray" in capsys.readouterr().err
