"""Heads trained from a real library database, saved as a bundle, applied to stored rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select
from tiny_bundle import make_tiny_bundle

from tagger_core.db.analysis_store import load_outputs, save_analysis
from tagger_core.db.models import Analysis, Track
from tagger_core.errors import ConfigError, TaggerError
from tagger_core.labels.bundles import load_bundle_dir
from tagger_core.listening.engine import analyze
from tagger_core.listening.head_runtime import analyze_with_heads, load_head_bundle
from tagger_core.listening.weights import load_members
from tagger_core.training.archive_labels import (
    load_labelled_set,
    vocabulary_from_app,
    vocabulary_from_taxonomy,
)
from tagger_core.training.head_training import train_and_save_heads
from tagger_core.training.heads import HeadConfig
from tagger_core.trust.review import decide, mark_reviewed

from .archive_fixtures import GENRES, fill_library


@pytest.fixture
def base(tmp_path):
    return make_tiny_bundle(tmp_path / "bundles", "tinybase")


def test_labels_from_tags_and_reviews(library, base):
    y = fill_library(library, base, n=30)
    with library.session() as s:
        first = s.scalar(select(Track.id).order_by(Track.id))
        untagged = Track(path=b"/m/x.flac", path_text="/m/x.flac", size=1, mtime_ns=1)
        s.add(untagged)
        s.flush()
        save_analysis(s, track_id=untagged.id, bundle_id=base.id, version=base.version,
                      key="x", members=list(base.member_names),
                      member_logits=np.zeros((2, 6), np.float32),
                      embeddings=[np.ones(12), np.ones(8)], n_patches=1, seconds=3.0)  # fmt: skip
        untagged_id = untagged.id
    decide(library, first, "genre", "Metal", "add")  # a review adds a class tags lack
    decide(library, untagged_id, "genre", "Jazz", "accept")
    vocab = vocabulary_from_app("genre", use_tags=True)
    with library.session() as s:
        data = load_labelled_set(s, base.id, vocab, minimum=0)
    assert data.summary["analysed"] == 31
    assert data.summary["partial"] == 1  # accepted Jazz, nothing else known
    assert data.summary["used"] == 30
    col = {c: i for i, c in enumerate(data.classes)}
    np.testing.assert_array_equal(data.labels[:, [col[g] for g in GENRES]], y)
    assert data.labels[0, col["Metal"]] == 1 and data.labels[1:, col["Metal"]].sum() == 0
    assert data.embeddings.shape == (30, 20)  # NaN padding of the 8-wide member dropped
    mark_reviewed(library, untagged_id, "genre")
    with library.session() as s:
        data = load_labelled_set(s, base.id, vocab, minimum=0)
    assert data.summary["used"] == 31


def test_too_few_examples_is_refused_with_the_class_named(library, base, tmp_path):
    fill_library(library, base, n=40)
    taxonomy = tmp_path / "tax.toml"
    taxonomy.write_text(
        '[genre.labels]\n"Rock" = ["hard rock"]\n"Jazz" = ["jazz"]\n"Polka" = ["polka"]\n'
    )
    vocab = vocabulary_from_taxonomy(taxonomy, "genre", use_tags=True)
    with library.session() as s, pytest.raises(TaggerError, match="Polka has 0 positives"):
        load_labelled_set(s, base.id, vocab)
    with library.session() as s:
        data = load_labelled_set(s, base.id, vocab, skip_rare=True, minimum=5)
    assert data.classes == ("Rock", "Jazz")
    with library.session() as s, pytest.raises(TaggerError, match="no stored embeddings"):
        load_labelled_set(s, "nonesuch", vocab)


def test_train_save_load_and_analyse_with_head_bundle(library, base, tmp_path):
    y = fill_library(library, base, n=150)
    taxonomy = tmp_path / "tax.toml"
    taxonomy.write_text('[genre.labels]\n"Rock" = ["hard rock"]\n"Jazz" = ["jazz"]\n"Folk" = []\n')
    vocab = vocabulary_from_taxonomy(taxonomy, "genre", use_tags=True)
    with library.session() as s:
        data = load_labelled_set(s, base.id, vocab)
    np.testing.assert_array_equal(data.labels, y)
    config = HeadConfig(design="ova", n_members=2, max_epochs=20, patience=5)
    runs, folder = train_and_save_heads(
        data, base, tmp_path / "out" / "myheads", "myheads", config, compare=True
    )
    assert set(runs) == {"ova", "joint"}
    for run in runs.values():
        assert run.report.after.classification.macro()["balanced_accuracy"] > 0.8
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["input"]["embedding_of"] == "tinybase"
    assert manifest["members"][0]["architecture"] == "ova_mlp_heads"
    assert manifest["calibration"]["kind"] == "temperature"
    # the generic loader reads it like any bundle
    plain = load_bundle_dir(folder)
    assert plain.raw_labels == ("Rock", "Jazz", "Folk")
    assert len(load_members(plain)) == 2  # "ova_mlp_heads" is in the model registry
    assert plain.reads_embedding and not base.reads_embedding
    with pytest.raises(ConfigError, match="head bundle on stored embeddings"):
        analyze(library, None, [plain])
    head = load_head_bundle(folder)
    assert head.bundle.taxonomy.labels == ("Rock", "Jazz", "Folk")
    with library.session() as s:
        stored = load_outputs(s, "tinybase")
        written = analyze_with_heads(s, head)
    assert written == 150
    with library.session() as s:
        out = load_outputs(s, "myheads")
        row = s.scalar(select(Analysis).where(Analysis.bundle_id == "myheads").limit(1))
        assert row.fingerprint == "fp0" and row.n_patches == 3
    assert out.logits.shape == (150, 2, 3)
    expected = head.member_logits(stored.embeddings).transpose(1, 0, 2)
    np.testing.assert_allclose(out.logits, expected, rtol=1e-5, atol=1e-5)
    probs = head.predict(stored.embeddings).mean
    assert ((probs >= 0.5) == (y > 0)).mean() > 0.85
    with pytest.raises(TaggerError, match="already holds a bundle"):
        train_and_save_heads(data, base, folder, "myheads", config)
