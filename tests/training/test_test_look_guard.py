"""The instrument-family test split is looked at once, and only at what validation froze."""

from __future__ import annotations

import copy

import pytest

from tagger_core.errors import TaggerError
from tagger_core.training.evaluation import check_frozen

FROZEN = {
    "members": ["resnet_seed3", "resnet_seed0"],
    "weights_sha256": {"resnet_seed3": "aa", "resnet_seed0": "bb"},
    "temperature": 0.83,
    "test_looks": [],
}
MANIFEST = {
    "members": [{"name": "resnet_seed0", "sha256": "bb"}, {"name": "resnet_seed3", "sha256": "aa"}],
    "calibration": {"kind": "temperature", "temperature": [0.83]},
}


def test_the_frozen_bundle_may_be_looked_at_once():
    check_frozen(FROZEN, MANIFEST)  # member order does not matter
    looked = {**FROZEN, "test_looks": ["2026-12-04T17:50:00Z"]}
    with pytest.raises(TaggerError, match="already evaluated"):
        check_frozen(looked, MANIFEST)
    check_frozen(looked, MANIFEST, again=True)  # a second look only when asked for


@pytest.mark.parametrize("change", ["weights", "members", "temperature"])
def test_anything_changed_after_freezing_is_refused(change):
    manifest = copy.deepcopy(MANIFEST)
    if change == "weights":
        manifest["members"][0]["sha256"] = "cc"
    elif change == "members":
        manifest["members"].append({"name": "resnet_seed1", "sha256": "dd"})
    else:
        manifest["calibration"]["temperature"] = [0.7]
    with pytest.raises(TaggerError):
        check_frozen(FROZEN, manifest)
