from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tagger_core.training import instrument_data as recipe
from tagger_core.training.synth_voices import (
    SYNTH_SOURCE,
    Voice,
    draw_voice,
    render_clip,
    render_note,
)

ROOT = Path(__file__).resolve().parents[2]
SR = 16000


def _spectrum_db(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    return np.fft.rfftfreq(len(audio), 1.0 / SR), 10 * np.log10(spectrum / spectrum.max() + 1e-20)


@pytest.mark.parametrize("family", recipe.FAMILIES)
def test_every_family_sounds_at_the_pitch_it_is_asked_for(family):
    for program in recipe.programs_of(family):
        rng = np.random.default_rng(program)
        voice = draw_voice(program, family, rng)
        audio = render_note(voice, 69, 100, 0.8, SR, rng)
        assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3
        freqs, db = _spectrum_db(audio)
        near = (freqs > 430) & (freqs < 450)  # A4: 440 Hz, vibrato and detuning included
        assert db[near].max() > -30.0, (family, program)


def test_no_partial_is_above_the_alias_limit():
    rng = np.random.default_rng(1)
    for family in recipe.FAMILIES:
        voice = replace(draw_voice(recipe.programs_of(family)[0], family, rng), noise=0.0, drive=0)
        audio = render_note(voice, 96, 120, 0.5, SR, rng)  # high note: partials run out first
        freqs, db = _spectrum_db(audio)
        assert db[freqs > 0.47 * SR].max() < -60.0, family


def test_a_clip_always_sounds_the_same_and_other_clips_get_other_instruments():
    clips = recipe.make_clips(31, 6, 2.0, mix=recipe.V2_TRAINING_MIX)
    first = [render_clip(c, 2.0) for c in clips]
    again = [render_clip(c, 2.0) for c in clips]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    notes = [recipe.Note(0.1, 0.5, 60, 100)]
    same_program = [recipe.ClipSpec(i, [recipe.Part(40, 0, notes)], -6.0, "x") for i in range(2)]
    a, b = (render_clip(c, 1.0) for c in same_program)
    assert not np.allclose(a, b, atol=1e-3)  # a new violin for every clip


def test_the_synthesiser_is_a_source_of_the_recipe_with_its_own_splits():
    assert recipe.SOURCES["project_synth"] == ("synth", SYNTH_SOURCE)
    groups = {group for group, _ in recipe.SOURCES.values()}
    assert len(groups) == len(set(groups)) == 5
    parts = {"train": [], "test": []}
    ((source, synth_train),) = recipe.split_clips("synth_train", parts, 2.0, scale=0.002)
    (_, train_fluid), *_ = recipe.split_clips("train", parts, 2.0, scale=0.012)
    assert source == "project_synth" and len(synth_train) == 12
    # other seeds than every v2 split: other notes
    assert [p.notes for p in synth_train[0].parts] != [p.notes for p in train_fluid[0].parts]
    audio = recipe.render_clips(synth_train[:4], SYNTH_SOURCE, 2.0)
    assert audio.shape == (4, 32000) and np.isfinite(audio).all()
    assert (np.abs(audio).max(axis=1) > 10 ** (-31 / 20) * 0.5).all()  # at their drawn level


def test_the_data_tool_renders_the_synthesiser_splits(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/instrument_data.py"), "--out", str(tmp_path),
         "--splits", "synth_train,synth_val", "--clips", "0.2", "--seconds", "3",
         "--scores", "0"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "synth_train.npz") as z:
        assert z["features"].dtype == np.uint8 and len(z["features"]) == 12
        assert set(z["source"].astype(str)) == {"project_synth"}
        assert z["labels"].sum(axis=1).min() >= 1
    with np.load(tmp_path / "synth_val.npz") as z:
        assert z["features"].dtype == np.float16
    stats = json.loads((tmp_path / "dataset.json").read_text())["statistics"]
    assert stats["synth_train"]["groups"] == ["synth"]


def _frame_db(audio: np.ndarray, frame: int = 800) -> np.ndarray:
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def test_played_voices_drift_and_machines_do_not():
    steady = Voice("sustained", max_partials=1, attack=0.01, release=0.05)
    played = replace(steady, shimmer_db=3.0)
    middle = slice(5, 35)  # 0.25–1.75 s of a 2-s note, away from attack and release
    rng = np.random.default_rng(0)
    flat = _frame_db(render_note(steady, 69, 100, 2.0, SR, rng))[middle]
    live = _frame_db(render_note(played, 69, 100, 2.0, SR, rng))[middle]
    assert np.ptp(flat) < 0.1
    assert np.ptp(live) > 1.5


def test_staggered_upper_partials_arrive_after_the_fundamental():
    voice = Voice("sustained", ratios=(1.0, 8.0), tilt_db=0.0, attack=0.1, stagger=2.0)
    audio = render_note(voice, 45, 127, 1.0, SR, np.random.default_rng(0))  # 110 Hz and 880 Hz
    t = np.arange(len(audio)) / SR
    low = np.abs(np.convolve(audio * np.sin(2 * np.pi * 110 * t), np.ones(400) / 400, "same"))
    high = np.abs(np.convolve(audio * np.sin(2 * np.pi * 880 * t), np.ones(400) / 400, "same"))

    def risen(x):  # first time the component reaches 90 % of its plateau
        return np.argmax(x > 0.9 * x[int(0.6 * SR) : int(0.9 * SR)].max()) / SR

    assert risen(high) > risen(low) + 0.2  # 0.1 s × (1 + 2·3) = 0.7 s against 0.1 s
