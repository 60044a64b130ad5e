"""``music-tagger analyze`` end to end: scan, analyse, resume, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audio_files import make_audio
from tiny_bundle import make_tiny_bundle

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Analysis


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    bundles = tmp_path / "bundles"
    make_tiny_bundle(bundles, "tiny-a", seed=1)
    make_tiny_bundle(bundles, "tiny-b", seed=2)
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(bundles))
    music = tmp_path / "music"
    music.mkdir()
    make_audio(music / "one.flac", seconds=2.5, seed=1, style="rock")
    make_audio(music / "two.mp3", seconds=2.5, seed=2, style="ambient")
    return str(tmp_path / "lib.db"), music


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_folder_then_all(setup, capsys) -> None:
    db, music = setup
    common = ("--models", "tiny-a,tiny-b", "--no-optimize", "--workers", "1")
    code, out, _ = run(capsys, "--db", db, "analyze", str(music), *common)
    assert code == 0, out
    assert "2 new" in out  # the folder was scanned first
    assert "Analysed 2 tracks" in out and "× realtime" in out and "0 errors" in out
    library = open_library(db)
    with library.session() as s:
        assert s.query(Analysis).filter_by(status="ok").count() == 4
    library.close()
    code, out, _ = run(capsys, "--db", db, "analyze", "--all", *common)
    assert code == 0 and "Nothing to analyse: 2 tracks already up to date" in out
    code, out, _ = run(capsys, "--db", db, "analyze", "--all", "--json", *common)
    report = json.loads(out)
    assert code == 0 and report["tracks_done"] == 0 and report["tracks_skipped"] == 2
    code, out, _ = run(capsys, "--db", db, "analyze", str(music / "one.flac"), "--force", *common)
    assert code == 0 and "Analysed 1 tracks" in out


def test_analyze_user_errors(setup, tmp_path: Path, capsys) -> None:
    db, music = setup
    code, _, err = run(capsys, "--db", db, "analyze")
    assert code == 2 and "--all" in err
    stray = tmp_path / "stray.wav"
    make_audio(stray, seconds=0.5)
    code, _, err = run(capsys, "--db", db, "analyze", str(stray))
    assert code == 2 and "not in the library" in err
    code, _, err = run(capsys, "--db", db, "analyze", "--all", "--models", "nope")
    assert code == 2 and "no model bundle 'nope'" in err
    code, _, err = run(capsys, "--db", db, "analyze", "--all", "--device", "tpu")
    assert code == 2 and "device" in err


def test_analyze_json_and_summary_say_what_calibrating_from_tags_did(
    tmp_path: Path, capsys
) -> None:
    from stored_outputs import add_genre_outputs

    from tagger_core.db.models import Track

    db = str(tmp_path / "lib.db")
    library = open_library(db)
    bundle, truth = add_genre_outputs(library, 240, 3.0, seed=5)
    labels = bundle.taxonomy.labels
    with library.session() as s:
        for i, row in enumerate(truth):
            s.get(Track, i + 1).genres = [labels[c] for c in row.nonzero()[0]]
    library.close()
    common = ("--db", db, "analyze", str(tmp_path), "--models", "genre", "--no-optimize")
    code, out, err = run(capsys, *common)
    assert code == 0, err
    assert "genre calibrated on " in out and "tagged tracks: held-out ECE " in out
    assert "Enough tags to train heads: music-tagger train heads --from-tags --task genre" in out
    # unchanged tags: nothing is refitted, and the JSON says so per bundle
    code, out, _ = run(capsys, *common, "--json")
    assert json.loads(out)["per_bundle"]["genre"]["auto_calibration"] is None


def _accept_int8(bundle_dir: Path) -> None:
    """An offline verdict accepting int8 for tiny-a's musicnn member (ranges from its inputs)."""
    import torch

    from tagger_core.labels.bundles import load_bundle_dir
    from tagger_core.listening.ensembles import check_sample
    from tagger_core.listening.int8_convs import calibrate
    from tagger_core.listening.weights import load_members

    bundle = load_bundle_dir(bundle_dir)
    model = load_members(bundle, torch.device("cpu"))[0]
    qparams = calibrate(model, [torch.from_numpy(check_sample(bundle))])
    verdict = {"verdict": "accepted", "reasons": [], "figures": {}, "params": {"qparams": qparams}}
    data = {
        "format": 1,
        "version": bundle.version,
        "members": {"tiny_musicnn": {"weights_sha256": None, "forms": {"int8": verdict}}},
    }
    (bundle_dir / "fast_forms.json").write_text(json.dumps(data))


def test_analyze_json_says_which_form_each_member_ran_in(setup, tmp_path: Path, capsys) -> None:
    from tagger_core.listening.int8_convs import int8_available

    if not int8_available():
        pytest.skip("no quantized CPU engine in torch")
    db, music = setup
    _accept_int8(tmp_path / "bundles" / "tiny-a")
    common = ("--models", "tiny-a", "--workers", "1", "--json")
    code, out, _ = run(capsys, "--db", db, "analyze", str(music), *common)
    assert code == 0, out
    assert json.loads(out)["forms"] == {"tiny-a": {"tiny_musicnn": "int8", "tiny_vgg": "float32"}}
    code, out, _ = run(capsys, "--db", db, "analyze", "--all", "--force", "--float32", *common)
    assert json.loads(out)["forms"] == {
        "tiny-a": {"tiny_musicnn": "float32", "tiny_vgg": "float32"}
    }
    library = open_library(db)
    with library.session() as s:
        stored = [a.member_forms for a in s.query(Analysis).filter_by(status="ok")]
    library.close()
    assert stored == [["float32", "float32"]] * 2
