"""Bundle registry: the shipped bundles, manifests, weights checks, extra roots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tagger_core.labels.bundles import BundleError, list_bundles, load_bundle
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.weights import load_members


def test_shipped_bundles_are_listed_and_complete() -> None:
    ids = {info.id: info for info in list_bundles()}
    assert ids["genre"].member_names == ("MSD_musicnn", "MSD_vgg")
    assert ids["instruments"].member_names == ("MTT_musicnn", "MTT_vgg")
    genre = load_bundle("genre")
    assert genre.task == "genre" and genre.version
    assert len(genre.raw_labels) == 50 and "Hip-Hop" in genre.raw_labels
    assert genre.frontend_config == FrontendConfig.musicnn()
    assert genre.patch_frames == 187
    assert genre.licence["name"] == "ISC"
    assert len(genre.provenance["wheel_sha256"]) == 64
    assert (genre.path / genre.licence["file"]).read_text().startswith("Copyright")
    assert "Classical" in genre.taxonomy.uncovered  # MSD tags have no classical tag
    assert load_bundle("instruments").taxonomy.tags_of("keyboard") == ["piano", "harpsichord"]


def test_members_return_logits_and_embeddings() -> None:
    bundle = load_bundle("instruments")
    members = load_members(bundle, "cpu")
    patches = torch.randn(2, bundle.patch_frames, 96)
    with torch.no_grad():
        for model, spec in zip(members, bundle.members, strict=True):
            out = model(patches)
            assert out["logits"].shape == (2, len(bundle.raw_labels))
            assert out["embedding"].shape == (2, spec.embedding_dim)
            assert not model.training


@pytest.fixture
def copied_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = load_bundle("genre").path
    dst = tmp_path / "bundles" / "mine"
    dst.mkdir(parents=True)
    for name in ("manifest.json", "MSD_vgg.safetensors"):
        shutil.copy(src / name, dst / name)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["id"] = "my-genre"
    manifest["members"] = [m for m in manifest["members"] if m["name"] == "MSD_vgg"]
    (dst / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(tmp_path / "bundles"))
    return dst


def test_extra_roots_and_weight_checks(copied_bundle: Path) -> None:
    bundle = load_bundle("my-genre")
    assert bundle.member_names == ("MSD_vgg",)
    assert len(load_members(bundle)) == 1
    weights = copied_bundle / "MSD_vgg.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_members(bundle)
    weights.unlink()
    with pytest.raises(BundleError, match="missing weights"):
        load_members(bundle)


def test_bad_manifest_and_unknown_id(copied_bundle: Path) -> None:
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle("not-there")
    (copied_bundle / "manifest.json").write_text('{"id": "my-genre"}')
    assert "my-genre" not in {b.id for b in list_bundles()}  # unreadable ones are skipped


def test_combined_taxonomy_covers_every_genre() -> None:
    from tagger_core.labels.bundles import combined_taxonomy
    from tagger_core.labels.taxonomy import GENRE_LABELS

    bundles = [load_bundle("genre"), load_bundle("instruments")]
    bound = combined_taxonomy("genre", bundles)
    assert bound.labels == GENRE_LABELS and not bound.uncovered
    assert len(bound.raw_labels) == 100
    # "rock" appears in both tag sets: both feed Rock
    assert bound.tags_of("Rock").count("rock") == 2
