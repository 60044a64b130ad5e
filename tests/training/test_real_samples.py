"""The real-sample check: labels, ranks, and bad files reported while the rest is scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_files import make_audio

from tagger_core.errors import TaggerError
from tagger_core.labels.bundles import load_bundle
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.listening.single_file import BundleRunner
from tagger_core.training.real_samples import labelled_samples, rank_of, score_files, summary

SHIPPED_LABELS = (
    Path(__file__).resolve().parents[2] / "docs/models/instrument-family/real_samples.toml"
)


def test_the_shipped_label_file_names_known_families_once_each(tmp_path):
    files = labelled_samples(SHIPPED_LABELS, tmp_path)
    assert len(files) == 46
    assert len({f.path for f in files}) == len(files)
    assert {f.family for f in files} <= set(INSTRUMENT_FAMILIES)
    assert {f.kind for f in files} == {"recorded", "synth"}


def test_rank_counts_from_the_most_probable_and_keeps_label_order_on_ties():
    p = np.zeros(len(INSTRUMENT_FAMILIES))
    p[INSTRUMENT_FAMILIES.index("organ")] = 0.9
    p[INSTRUMENT_FAMILIES.index("bass")] = 0.5
    assert rank_of(p, "organ") == 1
    assert rank_of(p, "bass") == 2
    assert INSTRUMENT_FAMILIES[:3] == ("bass", "brass", "flute")
    assert rank_of(p, "brass") == 3 and rank_of(p, "flute") == 4  # tied at 0: label order
    assert rank_of(p, INSTRUMENT_FAMILIES[-1]) == len(INSTRUMENT_FAMILIES)


def test_an_unknown_family_or_a_broken_label_file_is_refused(tmp_path):
    bad = tmp_path / "labels.toml"
    bad.write_text('[pkg]\nprefix = "x"\nsamples = [["a.ogg", "kazoo", "recorded"]]\n')
    with pytest.raises(TaggerError, match="kazoo"):
        labelled_samples(bad, tmp_path)
    bad.write_text("[pkg\n")
    with pytest.raises(TaggerError, match="not a readable label file"):
        labelled_samples(bad, tmp_path)


def test_files_are_scored_and_bad_ones_reported_without_stopping_the_rest(tmp_path):
    root = tmp_path / "root"
    (root / "s").mkdir(parents=True)
    make_audio(root / "s" / "piano.ogg", seconds=3.0, style="piano")
    make_audio(root / "s" / "bass.flac", seconds=1.0, seed=3, style="strings")
    (root / "s" / "broken.ogg").write_bytes(b"RIFF\x00\x00garbage" * 20)
    labels = tmp_path / "labels.toml"
    labels.write_text(
        '[pkg]\nprefix = "s"\nsamples = [\n'
        '  ["piano.ogg", "keyboard", "recorded"],\n'
        '  ["broken.ogg", "guitar", "recorded"],\n'
        '  ["missing.flac", "flute", "recorded"],\n'
        '  ["bass.flac", "bass", "synth"],\n]\n'
    )
    runner = BundleRunner(load_bundle("instrument-family"), threads=1)
    rows, skipped = score_files(runner, labelled_samples(labels, root), root)
    assert [r["file"] for r in rows] == ["s/piano.ogg", "s/bass.flac"]
    assert [s["file"] for s in skipped] == ["s/broken.ogg", "s/missing.flac"]
    assert all(s["reason"] and str(root) not in s["reason"] for s in skipped)
    for row in rows:
        assert 1 <= row["rank"] <= len(INSTRUMENT_FAMILIES)
        assert (row["rank"] == 1) == (row["top3"][0][0] == row["family"])
        probs = [p for _, p in row["top3"]]
        assert probs == sorted(probs, reverse=True) and 0.0 <= row["p_true"] <= 1.0
        assert row["seconds"] > 0.5
    counts = summary(rows)
    assert counts["all recorded"]["files"] == 1 and counts["all synth"]["files"] == 1
    assert counts["keyboard (recorded)"]["top1"] == int(rows[0]["rank"] == 1)
