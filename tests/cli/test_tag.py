"""``music-tagger tag``: end to end on generated files, no database."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagger_core.cli import main
from tagger_core.labels.taxonomy import GENRE_LABELS, INSTRUMENT_FAMILIES


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    sr = 22050
    t = np.arange(int(4.0 * sr)) / sr
    rng = np.random.default_rng(1)
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95) * rng.standard_normal(t.size) * 0.5
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 330 * t)
    path = tmp_path / "clip.flac"
    sf.write(path, (tone + beat).astype(np.float32), sr)
    return path


def test_tag_prints_genres_instruments_and_raw_tags(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00not audio at all" * 100)
    status = main(["tag", "--top", "3", str(bad), str(clip)])
    out, err = capsys.readouterr()
    assert status == 1  # one file failed, the other was still tagged
    assert err.count("\n") == 1 and "broken.mp3" in err
    assert str(clip) in out
    lines = out.splitlines()
    assert lines[1].lstrip().startswith("genres:")
    assert lines[2].lstrip().startswith("instruments:")
    assert any(line.lstrip().startswith("raw genre:") for line in lines)
    assert any(line.lstrip().startswith("raw instruments:") for line in lines)
    family = next(line for line in lines if "raw instrument-family:" in line)
    assert family.split("raw instrument-family:")[1].startswith(" ")  # not glued to its values
    values_at = {line.index(line.split(":", 1)[1].strip()) for line in lines[1:]}
    assert len(values_at) == 1  # one column of values


def test_tag_json_output(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", "--json", "--top", "15", str(clip)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["file"] == str(clip)
    # with both bundles' tags combined, every genre label is covered
    assert set(record["genres"]) == set(GENRE_LABELS)
    assert all(0.0 <= p <= 1.0 for p in record["genres"].values())
    assert set(record["raw_tags"]) == {"genre", "instruments", "instrument-family"}
    # every instrument family is covered once the trained family model is in
    assert set(record["instruments"]) == set(INSTRUMENT_FAMILIES)
    assert record["seconds_analysed"] == pytest.approx(4.0, abs=0.01)


def test_unknown_bundle_is_a_one_line_error(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", "--bundle", "no-such-bundle", str(clip)]) == 2
    assert "no-such-bundle" in capsys.readouterr().err


_TAG_THEN_REPORT = """
import json, sys
from tagger_core.cli import main
status = main(["tag", "--json", "--bundle", "instrument-family", sys.argv[1]])
print(json.dumps({"status": status, "torch_imported": "torch" in sys.modules}))
"""


def test_a_warm_cpu_tag_runs_without_torch_and_prints_the_same(clip: Path, tmp_path: Path) -> None:
    """The second ``tag`` on a CPU takes its members from the ONNX cache without importing
    torch (1.2 CPU s), and hears the file exactly as the first, torch-prepared run."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MUSIC_TAGGER_CACHE_DIR": str(tmp_path / "cache")}

    def tag() -> tuple[dict, dict]:
        out = subprocess.run(
            [sys.executable, "-c", _TAG_THEN_REPORT, str(clip)], env=env,
            capture_output=True, text=True, check=True, timeout=600,
        )  # fmt: skip
        *lines, report = out.stdout.strip().splitlines()
        return json.loads(lines[-1]), json.loads(report)

    cold_tags, cold = tag()
    warm_tags, warm = tag()
    assert cold == {"status": 0, "torch_imported": True}
    assert warm == {"status": 0, "torch_imported": False}
    assert warm_tags == cold_tags and warm_tags["instruments"]
