"""Taxonomy file, binding to raw labels, and the label-logit rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger_core.errors import ConfigError
from tagger_core.labels.taxonomy import (
    GENRE_LABELS,
    INSTRUMENT_FAMILIES,
    label_logits,
    load_taxonomy,
    task_taxonomy,
)


def test_default_file_has_exactly_the_app_labels() -> None:
    tasks = load_taxonomy()
    assert tasks["genre"].labels == GENRE_LABELS
    assert tasks["instruments"].labels == INSTRUMENT_FAMILIES
    assert "Progressive rock" in tasks["genre"].tags["Rock"]
    assert set(tasks["instruments"].tags["keyboard"]) == {"piano", "harpsichord", "keyboard"}


def test_bind_matches_case_insensitively_and_reports_uncovered() -> None:
    bound = task_taxonomy("genre").bind(["ROCK", "hard rock", "jazz", "beautiful"])
    assert bound.labels == ("Rock", "Jazz")
    assert "Classical" in bound.uncovered
    assert bound.tags_of("Rock") == ["ROCK", "hard rock"]
    assert bound.membership.shape == (2, 4)


def test_max_rule_is_the_largest_tag_logit() -> None:
    bound = task_taxonomy("genre").bind(["rock", "classic rock", "jazz"])
    raw = np.array([[-2.0, 1.5, 0.3], [0.7, -4.0, -1.0]])
    out = bound.label_logits(raw)
    np.testing.assert_allclose(out, [[1.5, 0.3], [0.7, -1.0]])
    # works on any leading shape
    assert bound.label_logits(raw.reshape(1, 2, 3)).shape == (1, 2, 2)


def test_noisy_or_rule_matches_its_probability_definition() -> None:
    membership = np.array([[True, True, False], [False, False, True]])
    raw = np.array([[0.0, -1.0, 3.0], [-30.0, -25.0, 40.0]])
    out = label_logits(raw, membership, "noisy_or")
    p = 1 / (1 + np.exp(-raw))
    expected_p = np.stack([1 - (1 - p[:, 0]) * (1 - p[:, 1]), p[:, 2]], axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-out)), expected_p, rtol=1e-6, atol=1e-12)
    assert np.isfinite(out).all()
    # noisy-OR never goes below the max rule, max never above any single tag
    assert (out >= label_logits(raw, membership, "max") - 1e-9).all()


def test_bad_files_raise_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[genre]\nrule = 'median'\n[genre.labels]\nRock = ['rock']\n")
    with pytest.raises(ConfigError, match="rule"):
        load_taxonomy(bad)
    bad.write_text("[genre\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_taxonomy(bad)
    with pytest.raises(ConfigError):
        load_taxonomy(tmp_path / "missing.toml")
    good = tmp_path / "mine.toml"
    good.write_text("[genre]\n[genre.labels]\nGuitar-music = ['guitar']\n")
    with pytest.raises(ConfigError, match="instruments"):
        task_taxonomy("instruments", good)
    assert task_taxonomy("genre", good).bind(["guitar"]).labels == ("Guitar-music",)
