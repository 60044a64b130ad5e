"""The file-based calibration CLI commands, end to end through ``main``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from tagger_core.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.0, (600, 3))
    y = (rng.random(z.shape) < expit(z)).astype(np.uint8)
    logits = np.stack([z * 2.0, z * 2.0 + rng.normal(0, 0.3, z.shape)]).astype(np.float32)
    path = tmp_path / "calib.npz"
    np.savez(path, logits=logits, labels=y, class_names=np.array(["Rock", "Jazz", "Folk"]))
    return path


def test_calibrate_file_json_and_plots(capsys, npz: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plots = tmp_path / "plots"
    code, out, err = run_cli(capsys, "calibrate-file", str(npz), "--json", "--plots", str(plots))
    assert code == 0, err
    data = json.loads(out)
    assert data["parameters"]["kind"] == "temperature"
    assert all(1.5 < t < 2.6 for t in data["parameters"]["temperature"])
    cv = data["cross_validation"]
    assert cv["after"]["ece"] < cv["before"]["ece"]
    assert [c["name"] for c in cv["per_class"]] == ["Rock", "Jazz", "Folk"]
    for name in ("reliability.png", "mae_vs_temperature.png"):
        assert (plots / name).read_bytes().startswith(b"\x89PNG")


def test_calibrate_file_text_report(capsys, npz: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "calibrate-file", str(npz), "--method", "platt", "--folds", "3")
    assert code == 0
    assert "600 tracks, 3 classes, 2 member(s)" in out
    assert "Jazz" in out and "positive" in out


def test_calibrate_file_refuses_bad_input(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.npz"
    np.savez(bad, logits=np.zeros((10, 2)))
    code, _, err = run_cli(capsys, "calibrate-file", str(bad))
    assert code == 2 and "'logits' and 'labels'" in err
    rare = tmp_path / "rare.npz"
    labels = np.zeros((40, 1))
    labels[:5] = 1
    np.savez(rare, logits=np.zeros((40, 1)), labels=labels)
    code, _, err = run_cli(capsys, "calibrate-file", str(rare))
    assert code == 2 and "class 0 has 5 positives" in err
    assert len(err.strip().splitlines()) == 1


def test_genre_map(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "genre-map", "Hip Hop", "(17)", "Zydeco-ish", "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["labels"] == ["Hip-Hop"] and rows[1]["labels"] == ["Rock"]
    assert rows[2]["labels"] == [] and rows[2]["unknown"] == ["Zydeco-ish"]
    extra = tmp_path / "mine.toml"
    extra.write_text('[synonyms]\nFolk = ["Zydeco-ish"]\n', encoding="utf-8")
    code, out, _ = run_cli(capsys, "genre-map", "Zydeco-ish", "--genre-synonyms", str(extra))
    assert code == 0 and "'Zydeco-ish': Folk" in out
