"""Review-flag policy: reasons and sentences, counts, queue order, settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger_core.errors import ConfigError
from tagger_core.trust import policy as pol

NAMES = ("Rock", "Jazz", "Metal", "Classical")


def hand_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    probs = np.array(
        [
            [0.90, 0.52, 0.05, 0.02],  # Jazz uncertain
            [0.20, 0.10, 0.30, 0.05],  # nothing clears 0.5
            [0.80, 0.10, 0.05, 0.01],  # members disagree on Rock
            [0.05, 0.02, 0.90, 0.10],  # model says Metal, tag says Classical
            [0.95, 0.02, 0.03, 0.01],  # clean
            [0.92, 0.02, 0.03, 0.20],  # tag Rock agrees with the model
        ]
    )
    spread = np.zeros_like(probs)
    spread[2, 0] = 0.21
    existing = np.zeros_like(probs, dtype=np.uint8)
    existing[3, 3] = 1
    existing[5, 0] = 1
    return probs, spread, existing


def test_reasons_and_sentences() -> None:
    probs, spread, existing = hand_case()
    flags = pol.evaluate_policy(probs, pol.ReviewPolicy(), spread, existing, NAMES)
    assert flags.flagged.tolist() == [True, True, True, True, False, False]
    assert [r.to_dict() for r in flags.reasons(0)] == [
        {
            "code": "uncertain",
            "label": "Jazz",
            "message": "Jazz 0.52 is in the uncertain band 0.35\u20130.65",
        }
    ]
    assert [(r.code, r.message) for r in flags.reasons(1)] == [
        ("not_found", "no genre clears 0.50: not found")
    ]
    assert [(r.code, r.label, r.message) for r in flags.reasons(2)] == [
        ("disagree", "Rock", "members disagree on Rock (spread 0.21)")
    ]
    assert [(r.code, r.message) for r in flags.reasons(3)] == [
        ("contradicts_tag", "model says Metal 0.90 but the file's genre tag says Classical")
    ]
    assert flags.reasons(4) == [] and flags.reasons(5) == []
    assert pol.Reason.from_dict(flags.reasons(3)[0].to_dict()) == flags.reasons(3)[0]


def test_switches_turn_reasons_off() -> None:
    probs, spread, existing = hand_case()
    policy = pol.ReviewPolicy(contradict_existing=False, flag_not_found=False)
    flags = pol.evaluate_policy(probs, policy, spread, existing, NAMES)
    assert flags.flagged.tolist() == [True, False, True, False, False, False]
    assert not flags.contradicts_tag.any() and not flags.not_found.any()


def test_band_edges_are_inclusive_and_move_with_the_policy() -> None:
    probs = np.array([[0.35, 0.0], [0.65, 1.0], [0.34, 1.0], [0.66, 0.0]])
    flags = pol.evaluate_policy(probs, pol.ReviewPolicy(flag_not_found=False))
    assert flags.uncertain[:, 0].tolist() == [True, True, False, False]
    narrow = pol.ReviewPolicy(uncertain_low=0.45, uncertain_high=0.55, flag_not_found=False)
    assert pol.count_flags(probs, narrow).flagged == 0


def test_queue_puts_most_uncertain_first() -> None:
    probs = np.array([[0.40, 0.9], [0.50, 0.9], [0.99, 0.98], [0.62, 0.9], [0.2, 0.1]])
    spread = np.zeros_like(probs)
    spread[2, 1] = 0.45  # strong disagreement (score 0.9) outranks a probability of 0.40 (0.8)
    flags = pol.evaluate_policy(probs, spread=spread)
    assert flags.queue().tolist() == [1, 2, 0, 3, 4]
    assert flags.score[1] == pytest.approx(1.0)
    assert flags.score[2] == pytest.approx(0.9)
    assert flags.score[3] == pytest.approx(0.76)


def naive_counts(probs, policy, spread, existing) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Per-track reference written straight from the rules, no vectorisation."""
    counts = dict.fromkeys(("flagged", "uncertain", "not_found", "disagree", "contradicts_tag"), 0)
    for p, s, e in zip(probs, spread, existing, strict=True):
        u = any(policy.uncertain_low <= v <= policy.uncertain_high for v in p)
        top = int(np.argmax(p))
        nf = policy.flag_not_found and p[top] < policy.accept_threshold
        d = any(v > policy.disagreement_limit for v in s)
        tagged = [c for c in range(len(p)) if e[c]]
        ct = (
            policy.contradict_existing
            and bool(tagged)
            and p[top] >= policy.accept_threshold
            and top not in tagged
            and all(p[c] < policy.accept_threshold for c in tagged)
        )
        for key, hit in (
            ("uncertain", u),
            ("not_found", nf),
            ("disagree", d),
            ("contradicts_tag", ct),
            ("flagged", u or nf or d or ct),
        ):
            counts[key] += int(bool(hit))
    return counts


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    low=st.floats(0.0, 0.5),
    width=st.floats(0.0, 0.5),
    accept=st.floats(0.05, 0.95),
    limit=st.floats(0.0, 0.5),
    not_found=st.booleans(),
    contradict=st.booleans(),
)
def test_vectorised_counts_match_per_track_rules(
    seed: int,
    low: float,
    width: float,
    accept: float,
    limit: float,
    not_found: bool,
    contradict: bool,
) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.random((80, 5))
    spread = rng.random((80, 5)) * 0.3
    existing = (rng.random((80, 5)) < 0.15).astype(np.uint8)
    policy = pol.ReviewPolicy(low, min(1.0, low + width), accept, limit, not_found, contradict)
    counts = pol.count_flags(probs, policy, spread, existing)
    assert counts.to_dict() == {"tracks": 80, **naive_counts(probs, policy, spread, existing)}
    assert pol.evaluate_policy(probs, policy, spread, existing).counts() == counts


def test_counts_on_a_large_library_are_plain_numbers() -> None:
    rng = np.random.default_rng(1)
    probs = rng.random((100_000, 15)).astype(np.float32) ** 4
    counts = pol.count_flags(probs, pol.ReviewPolicy(), rng.random((100_000, 15)) * 0.1)
    assert counts.tracks == 100_000
    assert 0 < counts.flagged <= 100_000
    assert json.loads(json.dumps(counts.to_dict()))["flagged"] == counts.flagged
    assert pol.FlagCounts.from_dict(counts.to_dict()) == counts


def test_policy_round_trip_and_defaults() -> None:
    policy = pol.ReviewPolicy()
    assert (policy.uncertain_low, policy.uncertain_high) == (0.35, 0.65)
    assert policy.accept_threshold == 0.5 and policy.disagreement_limit == 0.15
    assert policy.contradict_existing
    custom = pol.ReviewPolicy(0.3, 0.7, 0.6, 0.2, False, False)
    assert pol.ReviewPolicy.from_dict(json.loads(json.dumps(custom.to_dict()))) == custom
    assert pol.ReviewPolicy.from_dict({"accept_threshold": 0.4}).uncertain_low == 0.35


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uncertain_low": 0.7, "uncertain_high": 0.6}, "band is empty"),
        ({"accept_threshold": 1.5}, "between 0 and 1"),
        ({"disagreement_limit": 0.8}, "cannot exceed 0.5"),
    ],
)
def test_bad_policies_raise_config_error(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        pol.ReviewPolicy(**kwargs)  # type: ignore[arg-type]


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown review policy setting"):
        pol.ReviewPolicy.from_dict({"band": 0.2})


def test_confidence_text_never_hides_the_side_of_the_threshold() -> None:
    from tagger_core.trust.policy import confidence_text

    assert confidence_text(0.4996, 0.5) == "0.4996"
    assert confidence_text(0.498, 0.5) == "0.498"
    assert confidence_text(0.503, 0.5) == "0.503"
    assert confidence_text(0.5, 0.5) == "0.50"
    assert confidence_text(0.72, 0.5) == "0.72"


def test_every_setting_is_explained() -> None:
    assert set(pol.SETTING_HELP) == set(pol.ReviewPolicy().to_dict())


def test_not_found_needs_a_calibration_unless_asked() -> None:
    probs = np.array([[0.1, 0.2], [0.9, 0.1]])
    policy = pol.ReviewPolicy(flag_uncertain=False, contradict_existing=False)
    assert pol.evaluate_policy(probs, policy, calibrated=True).not_found.tolist() == [True, False]
    assert pol.evaluate_policy(probs, policy, calibrated=False).not_found.tolist() == [False, False]
    both = pol.ReviewPolicy(not_found_uncalibrated=True)
    assert pol.count_flags(probs, both, calibrated=False).not_found == 1
    off = pol.ReviewPolicy(flag_uncertain=False, flag_disagree=False)
    spread = np.array([[0.4, 0.4], [0.4, 0.4]])
    assert pol.count_flags(np.full((2, 2), 0.5), off, spread).flagged == 0
