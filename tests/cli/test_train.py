"""``music-tagger train heads|resnet`` and ``experiment scaling`` end to end, tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_bundle import make_tiny_bundle
from training.archive_fixtures import fill_library
from training.audio_datasets import csv_dataset, nsynth_dataset

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.listening.head_runtime import load_head_bundle


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "bundles"
    base = make_tiny_bundle(root, "tinybase")
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(root))
    db = tmp_path / "lib.db"
    library = open_library(db)
    fill_library(library, base, n=120)
    library.close()
    return db


def test_train_heads_from_tags_compares_designs_and_applies(archive, tmp_path, capsys):
    out = tmp_path / "models" / "archive-genres"
    status = main([
        "--db", str(archive), "train", "heads", "--from-tags", "--base", "tinybase",
        "--skip-rare", "--design", "ova", "--compare", "--members", "2", "--epochs", "15",
        "--out", str(out), "--apply", "--json",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    report = json.loads(captured.out)
    assert report["classes"] == ["Rock", "Jazz", "Folk"]  # the other app labels had no examples
    assert report["stored"] == 120
    assert set(report["runs"]) == {"ova", "joint"}
    macro = report["runs"]["ova"]["report"]["after"]["classification"]["macro"]
    assert macro["balanced_accuracy"] > 0.8
    assert load_head_bundle(out).bundle.id == "archive-genres"
    assert not (out.parent / ".archive-genres.checkpoints").exists()  # removed after success
    assert main(["--db", str(archive), "train", "apply", str(out)]) == 0
    assert "for 120 tracks" in capsys.readouterr().out


def test_train_heads_refuses_thin_classes_in_one_line(archive, tmp_path, capsys):
    status = main(["--db", str(archive), "train", "heads", "--from-tags", "--base", "tinybase",
                   "--out", str(tmp_path / "x")])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "Metal has 0 positives" in err and "--skip-rare" in err


def test_train_resnet_on_nsynth_layout(tmp_path, capsys):
    data = nsynth_dataset(tmp_path / "nsynth", per_split=6, seconds=1.0)
    out = tmp_path / "toy-resnet"
    status = main(["train", "resnet", str(data), "--members", "1", "--epochs", "2",
                   "--threads", "1", "--out", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "test set, calibration: temperature" in captured.out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "instruments" and manifest["patch_frames"] == 63
    assert (
        manifest["preprocessing"]["n_mels"] == 64
        and manifest["preprocessing"]["hop_length"] == 1024
    )
    assert manifest["raw_labels"] == ["bass", "flute", "synth_lead"]


def test_experiment_scaling_prints_the_table(tmp_path, capsys):
    data = csv_dataset(tmp_path / "csv", n=18, seconds=1.0)
    status = main(["experiment", "scaling", str(data), "--setting", "nsynth", "--epochs", "1",
                   "--threads", "1", "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result = json.loads(captured.out)
    assert result["classes"] == ["High", "Low", "Noise"]
    assert result["comparison"]["n"] == 3
    assert result["linear_bands"] == 64
