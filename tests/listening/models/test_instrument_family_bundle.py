"""The shipped `instrument-family` bundle: loadable, and it hears a known instrument.

TimGM6mb is one of the bundle's training soundfonts, so the first rendering test
is only a smoke check. The freepats test renders recorded samples that share no
sample data with any training soundfont (``tools/soundfont_samples.py``, table in
``docs/models/instrument-family.md``), so it cannot pass by recognising samples.
"""

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
needs_freepats = pytest.mark.skipif(
    shutil.which("timidity") is None or not recipe.FREEPATS_CONFIG.is_file(),
    reason="needs Debian's timidity and freepats (make system-deps)",
)


def first_and_last_program_per_family() -> list[int]:
    """The first and last sample-disjoint freepats program of every family (one for vocal)."""
    picked: set[int] = set()
    for family in INSTRUMENT_FAMILIES:
        programs = [
            p for p in recipe.FREEPATS_DISJOINT_PROGRAMS if recipe.family_of_program(p) == family
        ]
        picked |= {programs[0], programs[-1]}
    return sorted(picked)


@pytest.fixture(scope="module")
def runner():
    from tagger_core.listening.single_file import BundleRunner

    return BundleRunner(load_bundle("instrument-family"))


def test_manifest_weights_and_taxonomy():
    bundle = load_bundle("instrument-family")
    assert bundle.task == "instruments"
    assert bundle.raw_labels == INSTRUMENT_FAMILIES
    assert bundle.version == "4.0.0"
    assert len(bundle.members) == 2  # the ensemble size chosen on validation
    # analyses stored by earlier versions stay readable with the calibration they shipped
    previous = bundle.manifest["previous_versions"]
    assert previous["1.0.0"]["calibration"]["temperature"] == [0.8347]
    assert previous["2.0.0"]["calibration"]["temperature"] == [0.8265]
    assert previous["3.0.0"]["calibration"]["temperature"] == [0.8822]
    assert all(tuple(v["raw_labels"]) == tuple(INSTRUMENT_FAMILIES) for v in previous.values())
    assert {m.architecture for m in bundle.members} == {"am23_resnet"}
    assert bundle.frontend_config.n_mels == 64 and bundle.frontend_config.hop_length == 1024
    assert bundle.patch_frames == bundle.frontend_config.frames_for_seconds(4.0) == 62  # 4 s
    assert bundle.taxonomy.labels == INSTRUMENT_FAMILIES and not bundle.taxonomy.uncovered
    assert bundle.licence["file"] and (bundle.path / bundle.licence["file"]).is_file()
    assert "sample-disjoint" in bundle.manifest["metrics"]["test_data"]
    models = load_members(bundle)  # checks every sha256
    assert len(models) == 2


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


@needs_freepats
def test_single_instruments_from_a_source_no_member_heard_rank_their_family_in_the_top_3(
    runner,
):
    # Chance of the true family in the top 3 of 11 is 27 %; the bar is 80 % (issue 17).
    clips = recipe.solo_clips(17, first_and_last_program_per_family(), 4.5)
    audio = recipe.render_clips(clips, recipe.FREEPATS_CONFIG, 4.5)
    ranks = {}
    for clip, wave in zip(clips, audio, strict=True):
        probs = runner.run_chunks([wave]).probabilities
        order = [INSTRUMENT_FAMILIES[i] for i in np.argsort(-probs)]
        ranks[clip.parts[0].program] = (clip.families[0], order.index(clip.families[0]) + 1)
    assert len(ranks) == 21 and {f for f, _ in ranks.values()} == set(INSTRUMENT_FAMILIES)
    in_top3 = sum(rank <= 3 for _, rank in ranks.values())
    assert in_top3 >= 0.8 * len(ranks), ranks
