"""Cheaper member forms: used only when the offline verdict accepts them, and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from audio_files import make_audio
from sqlalchemy import select
from tiny_bundle import PATCH_FRAMES, make_tiny_bundle

from tagger_core.db.analysis_store import load_outputs
from tagger_core.db.models import Analysis
from tagger_core.labels.bundles import Bundle, load_bundle
from tagger_core.library.demo import synthesise
from tagger_core.library.scan import scan
from tagger_core.listening.engine import analyze, prepare_ensemble
from tagger_core.listening.ensembles import check_sample
from tagger_core.listening.fast_forms import FAST_FORMS_FILE, build_form, read_verdicts
from tagger_core.listening.frontend import LogMelFrontend, make_patches
from tagger_core.listening.int8_convs import calibrate, has_int8_convs, int8_available
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.torch_members import as_member
from tagger_core.listening.weights import load_members
from tagger_core.training.fast_form_check import (
    MAX_ABS_DP,
    agreement,
    check_bundle,
    check_clips,
    file_outputs,
    judge,
    write_verdicts,
)

pytestmark = pytest.mark.skipif(not int8_available(), reason="no quantized CPU engine in torch")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return make_tiny_bundle(tmp_path_factory.mktemp("bundles"), "tiny-q", seed=3)


@pytest.fixture
def music(tmp_path: Path) -> Path:
    folder = tmp_path / "music"
    folder.mkdir()
    make_audio(folder / "a.flac", seconds=6.0, seed=1, style="rock")
    make_audio(folder / "b.wav", seconds=4.0, seed=2, style="strings")
    return folder


def _calibration_patches(bundle: Bundle) -> torch.Tensor:
    frontend = LogMelFrontend(bundle.frontend_config)
    clips = [synthesise(s, 6.0, sr=16000, seed=50 + i) for i, s in enumerate(("rock", "piano"))]
    with torch.inference_mode():
        return torch.cat([make_patches(frontend(torch.from_numpy(c)), PATCH_FRAMES) for c in clips])


def _write_verdicts(bundle: Bundle, verdicts: dict[str, str], version: str | None = None) -> None:
    models = dict(zip(bundle.member_names, load_members(bundle, CPU), strict=True))
    patches = _calibration_patches(bundle)
    members = {
        name: {
            "weights_sha256": None,
            "forms": {
                "int8": {
                    "verdict": verdict,
                    "reasons": [] if verdict == "accepted" else ["test: rejected"],
                    "figures": {},
                    "params": {"qparams": calibrate(models[name], [patches])},
                }
            },
        }
        for name, verdict in verdicts.items()
    }
    data = {"format": 1, "version": version or bundle.version, "members": members}
    (bundle.path / FAST_FORMS_FILE).write_text(json.dumps(data))


def _forms_stored(library) -> list[list[str] | None]:
    with library.session() as s:
        return [r.member_forms for r in s.scalars(select(Analysis).order_by(Analysis.track_id))]


def test_engine_runs_an_accepted_int8_form_and_stores_which_form_ran(
    library, music, bundle, tmp_path: Path
) -> None:
    _write_verdicts(bundle, {"tiny_musicnn": "accepted", "tiny_vgg": "rejected"})
    scan(library, [music])
    report = analyze(library, bundles=[bundle], workers=1)
    assert report.tracks_done == 2 and not report.errors
    assert report.forms == {"tiny-q": {"tiny_musicnn": "int8", "tiny_vgg": "float32"}}
    assert report.to_dict()["forms"] == report.forms  # what `analyze --json` prints
    assert _forms_stored(library) == [["int8", "float32"], ["int8", "float32"]]
    with library.session() as s:
        fast = load_outputs(s, "tiny-q")
    # the same tracks with every member float32: the int8 member moved, within tolerance
    analyze(library, bundles=[bundle], workers=1, force=True, fast_forms=False)
    assert _forms_stored(library) == [["float32", "float32"], ["float32", "float32"]]
    with library.session() as s:
        ref = load_outputs(s, "tiny-q")
    p_fast, p_ref = (1 / (1 + np.exp(-o.logits.astype(np.float64))) for o in (fast, ref))
    np.testing.assert_array_equal(p_fast[:, 1], p_ref[:, 1])  # rejected member: float32
    assert 0 < np.abs(p_fast[:, 0] - p_ref[:, 0]).max() <= 0.02


def test_a_rejected_or_stale_verdict_keeps_every_member_float32(bundle) -> None:
    sample = check_sample(bundle)
    _write_verdicts(bundle, {"tiny_musicnn": "rejected", "tiny_vgg": "rejected"})
    ens = prepare_ensemble(bundle, CPU)
    assert ens.forms == ["float32", "float32"]
    _write_verdicts(bundle, {"tiny_musicnn": "accepted"}, version="0.9")  # another version
    assert read_verdicts(bundle) == {}
    stale = prepare_ensemble(bundle, CPU)
    assert stale.forms == ["float32", "float32"]
    plain = prepare_ensemble(bundle, CPU, fast_forms=False)
    for a, b in zip(stale.members, plain.members, strict=True):
        np.testing.assert_allclose(a(sample)["logits"], b(sample)["logits"], atol=1e-5, rtol=1e-5)
    _write_verdicts(bundle, {"tiny_musicnn": "accepted"})
    assert prepare_ensemble(bundle, CPU).forms == ["int8", "float32"]


def _style_clips(bundle: Bundle) -> list[np.ndarray]:
    config, frames, hop = bundle.frontend_config, bundle.patch_frames, bundle.patch_hop_frames
    out = []
    for i, style in enumerate(("rock", "electronic", "piano", "strings", "jazz", "ambient")):
        audio = synthesise(style, 9.0, sr=config.sr, seed=300 + i).astype(np.float32)
        out.append(cut_patches(logmel(audio, config), frames, hop))
    return out


@pytest.mark.parametrize("bundle_id", ["genre", "instruments", "instrument-family"])
def test_shipped_verdicts_hold_on_clips_the_check_never_saw(bundle_id: str) -> None:
    """Each shipped int8 form, rebuilt from its stored parameters, behaves as its verdict says.

    An accepted member keeps file-level outputs within the tolerance; a member
    rejected for moving them still moves them beyond it (the verdict is not stale).
    """
    shipped = load_bundle(bundle_id)
    verdicts = read_verdicts(shipped)
    assert set(verdicts) == set(shipped.member_names)  # every shipped member was checked
    patches = _style_clips(shipped)
    for name, model in zip(shipped.member_names, load_members(shipped, CPU), strict=True):
        verdict = verdicts[name]
        fast = build_form(model, verdict)
        assert has_int8_convs(fast)
        ref, cand = file_outputs(as_member(model), patches), file_outputs(as_member(fast), patches)
        figures = agreement(ref, cand, shipped)
        if verdict.accepted:
            assert figures["raw_max_abs_dp"] <= MAX_ABS_DP, (name, figures)
            assert figures.get("label_max_abs_dp", 0.0) <= MAX_ABS_DP, (name, figures)
            assert figures.get("label_top1_agreement", 1.0) == 1.0, (name, figures)
        elif any("|dp|" in reason for reason in verdict.reasons):
            assert figures["raw_max_abs_dp"] > MAX_ABS_DP, (name, figures)


def _figures(**changes: float) -> dict[str, float]:
    base = {"speedup": 2.0}
    for kind in ("raw", "label"):
        base |= {f"{kind}_max_abs_dp": 0.004, f"{kind}_top1_agreement": 1.0,
                 f"{kind}_decision_agreement": 1.0}  # fmt: skip
    return base | changes


def test_a_form_is_accepted_only_within_every_criterion() -> None:
    interval = {"ece": [0.05, 0.09], "mae": [0.1, 0.2]}
    inside = {"ece": 0.07, "mae": 0.15}
    assert judge(_figures(), inside, interval) == []
    assert judge(_figures(), {}, {}) == []  # no labelled files for the task: no calibration test
    failures = [
        judge(_figures(raw_max_abs_dp=0.0101), inside, interval),
        judge(_figures(label_max_abs_dp=0.02), inside, interval),
        judge(_figures(label_top1_agreement=0.98), inside, interval),
        judge(_figures(raw_decision_agreement=0.985), inside, interval),
        judge(_figures(), {"ece": 0.095, "mae": 0.15}, interval),
        judge(_figures(), {"ece": 0.07, "mae": 0.09}, interval),
        judge(_figures(speedup=1.05), inside, interval),
    ]
    assert all(len(reasons) == 1 for reasons in failures), failures


def test_the_offline_check_writes_verdicts_the_engine_follows(tmp_path: Path) -> None:
    tiny = make_tiny_bundle(tmp_path, "tiny-check", seed=4)
    clips = check_clips(16000, seed=0, per_style=1, seconds=4.0, rendered=0)
    calibration = check_clips(16000, seed=1, per_style=1, seconds=4.0, rendered=0)
    data = check_bundle(tiny, clips, calibration)
    assert data["check_set"]["files"] == 6 and data["version"] == tiny.version
    write_verdicts(tiny, data)
    verdicts = read_verdicts(tiny)
    assert set(verdicts) == {"tiny_musicnn", "tiny_vgg"}
    for name, verdict in verdicts.items():
        entry = data["members"][name]["forms"]["int8"]
        figures = entry["figures"]
        assert verdict.accepted == (entry["reasons"] == [])
        assert verdict.accepted == (
            figures["raw_max_abs_dp"] <= MAX_ABS_DP
            and figures["raw_top1_agreement"] >= 0.99
            and figures["raw_decision_agreement"] >= 0.99
            and figures["speedup"] >= 1.1
        )
    ensemble = prepare_ensemble(tiny, CPU)
    expected = ["int8" if verdicts[n].accepted else "float32" for n in tiny.member_names]
    assert ensemble.forms == expected
