"""The shipped `instrument-family` bundle: loadable, and it hears a known instrument."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tagger_core.labels.bundles import load_bundle
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.listening.weights import load_members
from tagger_core.training import instrument_data as recipe

SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
    reason="needs Debian's fluidsynth and timgm6mb-soundfont (make system-deps)",
)


@pytest.fixture(scope="module")
def runner():
    from tagger_core.listening.single_file import BundleRunner

    return BundleRunner(load_bundle("instrument-family"))


def test_manifest_weights_and_taxonomy():
    bundle = load_bundle("instrument-family")
    assert bundle.task == "instruments"
    assert bundle.raw_labels == INSTRUMENT_FAMILIES
    assert len(bundle.members) == 5
    assert {m.architecture for m in bundle.members} == {"am23_resnet"}
    assert bundle.frontend_config.n_mels == 64 and bundle.frontend_config.hop_length == 1024
    assert bundle.patch_frames == bundle.frontend_config.frames_for_seconds(4.0) == 62  # 4 s
    assert bundle.taxonomy.labels == INSTRUMENT_FAMILIES and not bundle.taxonomy.uncovered
    assert bundle.licence["file"] and (bundle.path / bundle.licence["file"]).is_file()
    assert bundle.manifest["metrics"]["held_out_soundfont"]
    models = load_members(bundle)  # checks every sha256
    assert len(models) == 5


@needs_fluidsynth
@pytest.mark.parametrize(
    ("program", "family"), [(33, "bass"), (19, "organ"), (52, "vocal"), (73, "flute")]
)
def test_a_rendered_instrument_ranks_its_family_first(runner, program, family):
    rng = np.random.default_rng(program)
    notes = recipe.generate_phrase(rng, family, 4.5)
    clip = recipe.ClipSpec(0, [recipe.Part(program, 0, notes, volume=110, reverb=20)], -6.0, "t")
    audio = recipe.render_clips([clip], SOUNDFONT, 4.5)[0]
    out = runner.run_chunks([audio])
    ranked = [INSTRUMENT_FAMILIES[i] for i in np.argsort(-out.probabilities)]
    assert ranked[0] == family, out.probabilities.round(2)
