"""Smoke test of the PyInstaller release, through ``packaging/smoke_test.sh``.

Building the release takes minutes and a gigabyte of disk, so the suite does not build it:
this runs when ``dist/music-tagger`` already exists (``packaging/build_release.sh`` made it)
or when ``MUSIC_TAGGER_RELEASE_SMOKE=1`` asks for it (then a missing release is built first).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "dist" / "music-tagger"
ASKED = os.environ.get("MUSIC_TAGGER_RELEASE_SMOKE") == "1"

pytestmark = pytest.mark.skipif(
    not (ASKED or (RELEASE / "music-tagger").exists()),
    reason="no release in dist/music-tagger (build it with packaging/build_release.sh, "
    "or set MUSIC_TAGGER_RELEASE_SMOKE=1 to build and test it)",
)


def test_release_starts_tags_and_opens_the_gui() -> None:
    if shutil.which("python3") is None:
        pytest.skip("the smoke script needs a system python3 to generate its recording")
    if not (RELEASE / "music-tagger").exists():
        built = subprocess.run(
            ["sh", str(ROOT / "packaging" / "build_release.sh")],
            cwd=ROOT, env={**os.environ, "NO_TARBALL": "1"},
            capture_output=True, text=True, timeout=3600,
        )
        assert built.returncode == 0, built.stderr[-3000:]
    result = subprocess.run(
        ["sh", str(ROOT / "packaging" / "smoke_test.sh"), str(RELEASE)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["smoke"] == "ok"
    assert figures["version"].startswith("music-tagger ")
    assert "genres:" in result.stderr
