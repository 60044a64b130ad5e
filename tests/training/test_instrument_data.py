from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.training import instrument_data as recipe

mido = pytest.importorskip("mido", reason="the recipe writes MIDI with mido (dev extra)")

SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
    reason="needs Debian's fluidsynth and timgm6mb-soundfont (make system-deps)",
)


def test_every_family_has_programs_and_families_match_the_taxonomy():
    assert recipe.FAMILIES == INSTRUMENT_FAMILIES
    for family in recipe.FAMILIES:
        assert recipe.programs_of(family), family
    assert recipe.family_of_program(0) == "keyboard"  # Acoustic Grand Piano
    assert recipe.family_of_program(40) == "string"  # Violin
    assert recipe.family_of_program(52) == "vocal"  # Choir Aahs
    assert recipe.family_of_program(73) == "flute"
    assert recipe.family_of_program(46) is None  # Orchestral Harp: ambiguous, left out
    assert recipe.family_of_program(118) is None  # Synth Drum


def test_clips_are_reproducible_and_multi_label():
    a = recipe.make_clips(7, 30, 3.0)
    b = recipe.make_clips(7, 30, 3.0)
    assert [c.label_vector().tolist() for c in a] == [c.label_vector().tolist() for c in b]
    assert [[p.notes for p in c.parts] for c in a] == [[p.notes for p in c.parts] for c in b]
    counts = {len(c.families) for c in a}
    assert counts <= {1, 2, 3, 4} and len(counts) > 1
    for clip in a:
        melodic = [p for p in clip.parts if p.channel != recipe.DRUM_CHANNEL]
        assert len({p.family for p in melodic}) == len(melodic)  # distinct families
        assert all(n.start < 3.0 for p in clip.parts for n in p.notes)


def _segments(midi, n_clips: int, seconds: float, gap: float) -> list[set[str]]:
    """Families of the programs that play notes in each clip, read back from the MIDI."""
    per_second = recipe.TICKS_PER_SECOND
    found: list[set[str]] = [set() for _ in range(n_clips)]
    program: dict[int, int] = {}
    tick = 0
    for msg in midi.tracks[0]:
        tick += msg.time
        k = int(tick / per_second // (seconds + gap))
        if msg.type == "program_change":
            program[msg.channel] = msg.program
        elif msg.type == "note_on" and msg.velocity > 0 and msg.channel != 9:
            found[k].add(recipe.family_of_program(program[msg.channel]))
    return found


@needs_fluidsynth
def test_rendered_clips_have_labels_of_the_midi_programs(tmp_path):
    seconds, gap = 2.0, 1.5
    clips = recipe.make_clips(11, 6, seconds)
    midi = recipe.clips_to_midi(clips, seconds, gap)
    path = tmp_path / "clips.mid"
    midi.save(str(path))
    read_back = _segments(mido.MidiFile(str(path)), len(clips), seconds, gap)
    for clip, families in zip(clips, read_back, strict=True):
        assert sorted(families) == clip.families
        vector = clip.label_vector()
        assert [recipe.FAMILIES[i] for i in np.flatnonzero(vector)] == clip.families
    audio = recipe.render_clips(clips, SOUNDFONT, seconds, gap=gap)
    assert audio.shape == (6, 32000) and audio.dtype == np.float32
    peaks = np.abs(audio).max(axis=1)
    expected = np.array([10 ** (c.gain_db / 20) for c in clips])
    assert np.allclose(peaks, expected, rtol=1e-4)  # every clip sounds, at its own level


@needs_fluidsynth
def test_missing_soundfont_is_a_user_error(tmp_path):
    from tagger_core.errors import TaggerError

    with pytest.raises(TaggerError, match="soundfont not found"):
        recipe.render_clips(recipe.make_clips(0, 1, 1.0), tmp_path / "none.sf2", 1.0)


def test_dataset_statistics_counts_families_and_cooccurrence():
    labels = np.zeros((3, len(recipe.FAMILIES)), dtype=np.uint8)
    labels[0, [0, 1]] = 1
    labels[1, [0]] = 1
    labels[2, [0, 1, 2]] = 1
    stats = recipe.dataset_statistics(labels, np.array([True, False, False]))
    assert stats["clips_per_family"]["bass"] == 3
    assert stats["clips_per_family"]["brass"] == 2
    assert stats["families_per_clip"] == {"0": 0, "1": 1, "2": 1, "3": 1, "4": 0}
    assert stats["cooccurrence"]["counts"][0][1] == 2
    assert stats["clips_with_drums"] == 1


def test_solo_clips_hold_one_instrument_each_and_refuse_unlabelled_programs():
    from tagger_core.errors import TaggerError

    clips = recipe.solo_clips(3, [0, 73], 2.0, per_program=2)
    assert [c.families for c in clips] == [["keyboard"]] * 2 + [["flute"]] * 2
    assert all(len(c.parts) == 1 and not c.drums and c.parts[0].notes for c in clips)
    assert clips[0].parts[0].notes != clips[1].parts[0].notes  # a new phrase per clip
    with pytest.raises(TaggerError, match="program 46"):
        recipe.solo_clips(3, [46], 2.0)  # harp: no family


@pytest.mark.skipif(
    shutil.which("timidity") is None or not recipe.FREEPATS_CONFIG.is_file(),
    reason="needs Debian's timidity and freepats (make system-deps)",
)
def test_a_timidity_configuration_renders_gus_patches():
    clips = recipe.solo_clips(0, [0, 73], 1.0)
    audio = recipe.render_clips(clips, recipe.FREEPATS_CONFIG, 1.0)
    assert audio.shape == (2, 16000)
    assert np.allclose(np.abs(audio).max(axis=1), 10 ** (-6 / 20), rtol=1e-4)  # both sound


def test_v1_draws_are_unchanged_by_the_v2_options():
    """v1's shipped shift reference and fast-form check re-render v1 clips by seed."""
    v1 = recipe.make_clips(5, 40, 3.0)
    explicit = recipe.make_clips(5, 40, 3.0, mix=recipe.MixRecipe())
    assert [c.label_vector().tolist() for c in v1] == [c.label_vector().tolist() for c in explicit]
    assert [[(p.program, p.notes) for p in c.parts] for c in v1] == [
        [(p.program, p.notes) for p in c.parts] for c in explicit
    ]
    assert all("degradation" not in c.extra for c in v1)


def test_v2_clips_carry_degradations_and_respect_allowed_programs():
    allowed = recipe.FREEPATS_DISJOINT_PROGRAMS
    clips = recipe.make_clips(8, 60, 3.0, programs=allowed, mix=recipe.V2_TRAINING_MIX)
    assert all(p.program in allowed for c in clips for p in c.parts if p.family)
    assert all("degradation" in c.extra for c in clips)
    assert len({c.extra["degradation"].codec for c in clips}) > 1
    with pytest.raises(recipe.TaggerError, match="no allowed GM program"):
        recipe.make_clips(8, 60, 3.0, programs=[0], mix=recipe.V2_TRAINING_MIX)


def test_the_dense_test_recipe_is_outside_the_training_recipe():
    dense = recipe.make_clips(9, 40, 3.0, mix=recipe.DENSE_UNSEEN_MIX)
    train = recipe.make_clips(9, 200, 3.0, mix=recipe.V2_TRAINING_MIX)
    melodic = [sum(p.channel != recipe.DRUM_CHANNEL for p in c.parts) for c in dense]
    assert min(melodic) >= 5  # training clips never hold more than 4 instruments
    assert max(sum(p.channel != recipe.DRUM_CHANNEL for p in c.parts) for c in train) <= 4
    assert all(c.drums for c in dense)
    assert min(c.extra["degradation"].rt60 for c in dense) >= 2.0
    assert max(c.extra["degradation"].rt60 for c in train) <= 1.8


@needs_fluidsynth
def test_degraded_clips_render_at_their_level(tmp_path):
    clips = recipe.make_clips(12, 8, 2.0, mix=recipe.V2_TRAINING_MIX)
    audio = recipe.render_clips(clips, SOUNDFONT, 2.0)
    assert audio.shape == (8, 32000) and np.isfinite(audio).all()
    for clip, row in zip(clips, audio, strict=True):
        d = clip.extra["degradation"]
        peak = float(np.abs(row).max())
        if d.codec == "" and d.gain_db < -1.0:  # no clipping, no codec overshoot
            level = 10 ** (d.gain_db / 20)
            expected = np.tanh(level) if d.clip == "soft" else level  # tanh saturates a little
            assert np.isclose(peak, expected, rtol=1e-3)
        assert peak > 10 ** (-31 / 20) * 0.5  # every clip sounds


@needs_fluidsynth
def test_stem_shares_say_how_loud_each_labelled_family_is():
    notes = [recipe.Note(0.1 + 0.4 * k, 0.35, 60 + k, 100) for k in range(4)]
    loud, quiet = recipe.Part(0, 0, notes, volume=127), recipe.Part(73, 1, notes, volume=20)
    silent = recipe.Part(40, 2, [], volume=127)  # a part with no note carries no label
    late = recipe.Part(24, 3, [recipe.Note(1.6, 0.3, 52, 100)], volume=127)  # after the window
    clips = [
        recipe.ClipSpec(0, [loud], 0.0, "phrase"),
        recipe.ClipSpec(1, [loud, quiet, silent], 0.0, "phrase"),
        recipe.ClipSpec(2, [loud, late], 0.0, "phrase"),
        recipe.ClipSpec(3, [loud, recipe.Part(1, 1, notes, volume=127)], 0.0, "phrase"),
    ]
    shares = recipe.stem_shares(clips, SOUNDFONT, 2.0, window=1.5)
    keyboard, flute = recipe.FAMILIES.index("keyboard"), recipe.FAMILIES.index("flute")
    string, guitar = recipe.FAMILIES.index("string"), recipe.FAMILIES.index("guitar")
    assert shares.shape == (4, len(recipe.FAMILIES))
    assert (~np.isnan(shares)).sum(axis=1).tolist() == [1, 2, 2, 1]  # exactly the labels
    assert [recipe.FAMILIES[i] for i in np.flatnonzero(~np.isnan(shares[1]))] == clips[1].families
    assert shares[0, keyboard] == pytest.approx(0.0, abs=1e-6)  # alone: all of the energy
    assert shares[1, flute] < -15.0 < shares[1, keyboard] <= 0.0  # CC7 20 vs 127
    assert np.isnan(shares[1, string])
    assert shares[2, guitar] < -60.0  # plays only after the window
    linear = 10 ** (shares[1, [keyboard, flute]] / 10)
    assert linear.sum() == pytest.approx(1.0, abs=1e-6)  # shares of one clip add up
    assert shares[3, keyboard] == pytest.approx(0.0, abs=1e-6)  # two pianos: one family, summed
