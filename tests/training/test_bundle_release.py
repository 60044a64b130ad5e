"""Releasing a retrained instrument-family bundle (``tools/train_instrument_model.py``).

A new release must carry every earlier version's calibration, or analyses those
versions stored can no longer be read; an earlier release's members offered to the
ensemble choice must be the very weights that release shipped.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tagger_core.listening.models.resnet import AM23ResNet
from tagger_core.resources import resources_root

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = resources_root() / "models" / "instrument-family"


@pytest.fixture(scope="module")
def release():
    spec = importlib.util.spec_from_file_location(
        "train_instrument_model", ROOT / "tools" / "train_instrument_model.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _earlier(tmp_path: Path, version: str) -> Path:
    """A copy of the shipped bundle that says it is ``version``, with its own calibration."""
    folder = tmp_path / f"earlier-{version}"
    shutil.copytree(SHIPPED, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = version
    manifest["calibration"] = {**manifest["calibration"], "temperature": [1.5]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _damage(weights: Path) -> None:
    """Overwrite the last bytes of a weights file, as a bad copy or disk would."""
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)


def test_a_release_carries_every_earlier_versions_calibration(release, tmp_path):
    carried = release.previous_versions(_earlier(tmp_path, "2.5.0"))
    assert carried["2.5.0"]["calibration"]["temperature"] == [1.5]
    shipped = json.loads((SHIPPED / "manifest.json").read_text())
    for version, entry in shipped["previous_versions"].items():
        assert carried[version] == entry  # what the earlier release itself carried
    assert release.previous_versions(tmp_path / "nothing-here") == {}


def test_the_same_version_is_not_carried_as_its_own_predecessor(release, tmp_path):
    carried = release.previous_versions(_earlier(tmp_path, release.VERSION))
    assert release.VERSION not in carried


def test_earlier_members_are_copied_under_their_release_and_checked(release, tmp_path):
    earlier = _earlier(tmp_path, "2.5.0")
    bundle = tmp_path / "new"
    bundle.mkdir()
    copied = release.copied_members(earlier, bundle)
    shipped = json.loads((SHIPPED / "manifest.json").read_text())["members"]
    assert [m["name"] for m in copied] == [f"v2_{m['name']}" for m in shipped]
    assert all(m["from_release"] == "2.5.0" and (bundle / m["weights"]).is_file() for m in copied)
    assert [m["sha256"] for m in copied] == [m["sha256"] for m in shipped]

    _damage(earlier / shipped[0]["weights"])
    with pytest.raises(SystemExit, match="does not match its recorded sha256"):
        release.copied_members(earlier, tmp_path / "new")


def test_continued_training_starts_from_the_released_members_weights(release, tmp_path):
    shipped = json.loads((SHIPPED / "manifest.json").read_text())["members"][0]
    seed = shipped["seed"]
    model = AM23ResNet(**shipped["params"])
    start = release.initial_weights(model, SHIPPED, seed)
    assert start["member"] == f"resnet_seed{seed}" and start["sha256"] == shipped["sha256"]
    loaded = model.state_dict()
    released = load_file(str(SHIPPED / shipped["weights"]))
    assert all(torch.equal(released[k], v) for k, v in loaded.items())
    untrained = AM23ResNet(**shipped["params"]).state_dict()
    assert not torch.equal(untrained["classifier.weight"], loaded["classifier.weight"])

    with pytest.raises(SystemExit, match="no member resnet_seed99"):
        release.initial_weights(model, SHIPPED, 99)
    earlier = _earlier(tmp_path, "2.5.0")
    _damage(earlier / shipped["weights"])
    with pytest.raises(SystemExit, match="does not match its recorded sha256"):
        release.initial_weights(model, earlier, seed)
