from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth

from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Prediction, Track
from tagger_core.errors import CalibrationError
from tagger_core.labels.bundles import load_bundle
from tagger_core.trust.archive_calibration import (
    build_calibration_set,
    fit_calibration,
    list_calibrations,
)
from tagger_core.trust.policy import ReviewPolicy
from tagger_core.trust.predictions import load_policy, refresh_predictions, save_policy
from tagger_core.trust.review import decide

N_TRACKS = 240
TRUE_T = 2.5  # the stored outputs are this much too confident


@pytest.fixture
def analysed(library):
    """Tracks with stored genre-bundle outputs whose true labels follow sigmoid(z / TRUE_T)."""
    return add_genre_outputs(
        library, N_TRACKS, TRUE_T, genres=lambda i: ["Rock"] if i % 3 == 0 else []
    )


def test_predictions_are_computed_from_stored_outputs(library, analysed) -> None:
    bundle, _ = analysed
    assert refresh_predictions(library) == N_TRACKS
    with library.session() as s:
        preds = list(s.scalars(select(Prediction)))
    assert len(preds) == N_TRACKS
    p = preds[0]
    assert set(p.confidences) == set(bundle.taxonomy.labels)
    assert all(0.0 <= v <= 1.0 for v in p.confidences.values())
    assert p.calibration_id is None
    flagged = [q for q in preds if q.flagged]
    assert flagged and all(q.flag_reasons for q in flagged)
    assert all(not q.flag_reasons for q in preds if not q.flagged)


def test_policy_changes_flags_without_rerunning_models(library, analysed) -> None:
    refresh_predictions(library)
    with library.session() as s:
        before = sum(p.flagged for p in s.scalars(select(Prediction)))
        # thresholds for this uncalibrated bundle (else a share is flagged by review value)
        strict = ReviewPolicy(1.0, 1.0, 0.5, 0.5, flag_not_found=False, contradict_existing=False)
        save_policy(s, ReviewPolicy.from_dict({**strict.to_dict(), "not_found_uncalibrated": True}))
    refresh_predictions(library)
    with library.session() as s:
        assert load_policy(s).uncertain_low == 1.0
        after = sum(p.flagged for p in s.scalars(select(Prediction)))
    assert after == 0 < before


def test_not_found_is_off_for_a_model_with_no_calibration(library, analysed) -> None:
    """Item 4 of issue 14: raw outputs rarely clear 0.50, so "not found" flagged everything."""
    bundle, truth = analysed

    def not_found() -> int:
        with library.session() as s:
            preds = list(s.scalars(select(Prediction)))
        return sum(any(r["code"] == "not_found" for r in p.flag_reasons) for p in preds)

    with library.session() as s:
        assert load_policy(s).not_found_uncalibrated is False
    refresh_predictions(library)
    assert not_found() == 0
    with library.session() as s:
        save_policy(s, ReviewPolicy(not_found_uncalibrated=True))
    refresh_predictions(library)
    everywhere = not_found()
    assert everywhere > 0
    with library.session() as s:
        save_policy(s, ReviewPolicy())
    review_truth(library, bundle, truth, upto=N_TRACKS)
    fit_calibration(library, "genre", method="temperature", folds=3)  # activates: calibrated
    assert not_found() > 0


def test_calibration_set_uses_reviews_and_optionally_tags(library, analysed) -> None:
    bundle, truth = analysed
    review_truth(library, bundle, truth, upto=30)
    decide(library, 31, "genre", "Rock", "accept")  # partial: not in the set
    with library.session() as s:
        only_reviews = build_calibration_set(s, "genre")
        with_tags = build_calibration_set(s, "genre", use_tags=True)
    assert only_reviews.from_review == 30 and only_reviews.from_tags == 0
    np.testing.assert_array_equal(only_reviews.y, truth[:30].astype(float))
    assert with_tags.from_tags == len([i for i in range(30, N_TRACKS) if i % 3 == 0])
    rock = with_tags.labels.index("Rock")
    assert with_tags.y[with_tags.from_review :, rock].all()


def test_fit_recovers_overconfidence_and_activates(library, analysed) -> None:
    bundle, truth = analysed
    review_truth(library, bundle, truth, upto=N_TRACKS)
    result = fit_calibration(library, "genre", method="temperature", fit="nll", folds=4)
    t = result.report.folds[0].params["temperature"][0]
    assert TRUE_T * 0.75 < t < TRUE_T * 1.3
    assert result.report.after.ece < result.report.before.ece
    assert result.report.after.nll < result.report.before.nll
    for name, why in result.skipped.items():
        assert name not in result.labels and "needs" in why
    with library.session() as s:
        cals = list_calibrations(s, "genre")
        assert [c.active for c in cals] == [True]
        preds = list(s.scalars(select(Prediction)))
        assert {p.calibration_id for p in preds} == {cals[0].id}
        assert cals[0].metrics_after["pooled"]["ece"] < cals[0].metrics_before["pooled"]["ece"]


def test_fit_refuses_when_labels_are_too_few(library, analysed) -> None:
    bundle, truth = analysed
    with pytest.raises(CalibrationError, match="no labelled tracks"):
        fit_calibration(library, "genre")
    review_truth(library, bundle, truth, upto=5)
    with pytest.raises(CalibrationError, match="needs at least 15 positive and 15 negative"):
        fit_calibration(library, "genre", folds=5)


def test_cli_review_calibrate_report(library, analysed, tmp_path, capsys) -> None:
    from tagger_core.cli import main

    bundle, truth = analysed
    db = str(library.path)
    refresh_predictions(library)
    assert main(["--db", db, "review", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "waiting for review" in out and "·" in out
    assert "Genres: " in out and f"of {N_TRACKS} flagged (" in out  # the flag rate per task
    assert main(["--db", db, "review", "accept", "1", "Rock", "Jazz"]) == 0
    assert main(["--db", db, "review", "done", "1"]) == 0
    assert main(["--db", db, "review", "undo"]) == 0
    assert "undid reviewed" in capsys.readouterr().out
    assert main(["--db", db, "review", "policy", "accept_threshold=0.7"]) == 0
    out = capsys.readouterr().out
    assert "accept_threshold = 0.7" in out
    assert "not_found_uncalibrated = False" in out and "no calibration" in out
    assert main(["--db", db, "review", "policy", "not_found_uncalibrated=on"]) == 0
    assert "not_found_uncalibrated = True" in capsys.readouterr().out
    assert main(["--db", db, "review", "policy", "accept_threshold=high"]) == 2
    assert "must be a number" in capsys.readouterr().err

    assert main(["--db", db, "calibrate", "--folds", "3"]) == 2
    assert "review some tracks" in capsys.readouterr().err
    review_truth(library, bundle, truth, upto=N_TRACKS)
    code = main(
        [
            "--db",
            db,
            "calibrate",
            "--method",
            "temperature",
            "--fit",
            "mae",
            "--folds",
            "3",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "all labels" in out and "→" in out
    pngs = sorted(tmp_path.glob("calibration-genre-*-*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert main(["--db", db, "report", "-o", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64" in page and "calibration 1" in page


def test_genre_predictions_borrow_classical_from_the_mtt_partner(library, analysed) -> None:
    partner = load_bundle("instruments")
    rng = np.random.default_rng(5)
    with library.session() as s:
        for tid in (1, 2, 3):  # only some tracks were analysed by the partner too
            raw = rng.normal(-2, 1, (len(partner.members), len(partner.raw_labels)))
            s.add(
                Analysis(
                    track_id=tid,
                    bundle_id="instruments",
                    bundle_version=partner.version,
                    members=list(partner.member_names),
                    member_logits=pack(raw.astype(np.float32)),
                )
            )
    refresh_predictions(library, bundle_ids=["genre"])
    with library.session() as s:
        preds = {p.track_id: p for p in s.scalars(select(Prediction))}
    assert len(preds) == N_TRACKS
    assert all("Classical" in preds[t].confidences for t in (1, 2, 3))
    assert "Classical" not in preds[4].confidences and "Rock" in preds[4].confidences


def test_shipped_calibration_applies_until_the_librarian_fits_one(library) -> None:
    bundle = load_bundle("instrument-family")
    shipped = bundle.manifest["calibration"]
    assert shipped["kind"] == "temperature" and 0.5 < shipped["temperature"][0] < 1.5
    rng = np.random.default_rng(2)
    raw = rng.normal(0, 2, (len(bundle.members), len(bundle.raw_labels))).astype(np.float32)
    with library.session() as s:
        t = Track(path=b"/m/x.flac", path_text="/m/x.flac", size=1, mtime_ns=1)
        s.add(t)
        s.flush()
        s.add(
            Analysis(
                track_id=t.id,
                bundle_id=bundle.id,
                bundle_version=bundle.version,
                members=list(bundle.member_names),
                member_logits=pack(raw),
            )
        )
    refresh_predictions(library, bundle_ids=[bundle.id])
    with library.session() as s:
        stored = s.scalars(select(Prediction)).one().confidences
    expected = (1 / (1 + np.exp(-raw / shipped["temperature"][0]))).mean(axis=0)
    raw_mean = (1 / (1 + np.exp(-raw))).mean(axis=0)
    for i, name in enumerate(bundle.raw_labels):
        assert stored[name] == pytest.approx(expected[i], abs=1e-4)
    assert not np.allclose(expected, raw_mean, atol=1e-3)
