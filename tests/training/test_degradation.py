"""Rooms, levels and lossy codecs of the instrument-family v2 recipe, on real signals."""

from __future__ import annotations

import numpy as np
import pytest

from tagger_core.training import degradation as deg

SR = 16000


def tone(seconds: float = 2.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t)).astype(np.float32)


def decay_time(ir: np.ndarray) -> float:
    """Seconds for the backward-integrated energy (Schroeder curve) to fall 20 dB, ×3."""
    energy = np.cumsum(ir[::-1].astype(np.float64) ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0] + 1e-20)
    return 3.0 * float(np.argmax(db <= -20.0)) / SR


@pytest.mark.parametrize("rt60", [0.3, 1.0, 2.5])
def test_room_impulse_response_decays_in_about_its_rt60(rt60):
    ir = deg.room_impulse_response(rt60, SR, seed=3)
    assert np.isclose(np.sum(ir.astype(np.float64) ** 2), 1.0, atol=1e-4)  # unit energy
    assert ir[0] >= 0.5 * np.abs(ir).max()  # the direct sound comes first, among the loudest
    assert 0.5 * rt60 < decay_time(ir) < 1.5 * rt60


def test_room_is_reproducible_keeps_length_and_smears_the_tail():
    dry = tone()
    wet = deg.apply_room(dry, SR, 1.5, 0.6, seed=9)
    again = deg.apply_room(dry, SR, 1.5, 0.6, seed=9)
    assert wet.shape == dry.shape and np.array_equal(wet, again)
    other = deg.apply_room(dry, SR, 1.5, 0.6, seed=10)
    assert not np.allclose(wet, other)
    assert np.array_equal(deg.apply_room(dry, SR, 0.0, 0.6, seed=9), dry)  # no room: unchanged
    # Reverberation raises the level of the decaying end relative to the start.
    tail, head = slice(-SR // 4, None), slice(0, SR // 4)
    assert np.std(wet[tail]) / np.std(wet[head]) > 1.5 * np.std(dry[tail]) / np.std(dry[head])


def test_level_runs_from_quiet_to_clipped():
    x = tone()
    quiet = deg.apply_level(x, -30.0, "hard")
    assert np.isclose(np.abs(quiet).max(), 10 ** (-30 / 20), rtol=1e-5)
    hard = deg.apply_level(x, 6.0, "hard")
    assert np.abs(hard).max() == pytest.approx(1.0) and np.mean(np.abs(hard) >= 1.0) > 0.01
    soft = deg.apply_level(x, 6.0, "soft")
    assert np.abs(soft).max() < 1.0 and np.abs(soft).max() > 0.9
    assert np.array_equal(deg.apply_level(np.zeros(10, np.float32), 3.0, "hard"), np.zeros(10))


@pytest.mark.parametrize("codec", ["mp3", "vorbis"])
def test_lossy_round_trip_changes_the_signal_but_keeps_it_recognisable(codec):
    rng = np.random.default_rng(0)
    x = (tone(3.0) + 0.05 * rng.normal(size=3 * SR)).astype(np.float32)
    y = deg.lossy_round_trip(x, SR, codec, 0.9)
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.allclose(x, y, atol=1e-3)  # really encoded
    spectrum_x = np.abs(np.fft.rfft(x))
    spectrum_y = np.abs(np.fft.rfft(y))
    assert np.corrcoef(spectrum_x, spectrum_y)[0, 1] > 0.9  # the tone is still there


def test_drawn_degradations_cover_the_recipe_and_are_reproducible():
    draws = [deg.draw_degradation(np.random.default_rng(s)) for s in range(400)]
    again = [deg.draw_degradation(np.random.default_rng(s)) for s in range(400)]
    assert draws == again
    rooms = [d for d in draws if d.rt60 > 0]
    assert 0.4 < len(rooms) / len(draws) < 0.6
    assert all(0.15 <= d.rt60 <= 1.8 for d in rooms)
    assert any(d.gain_db > 0 for d in draws) and any(d.gain_db < -20 for d in draws)
    codecs = {d.codec for d in draws}
    assert codecs == {"", "mp3", "vorbis"}
    out = deg.degrade(tone(), SR, draws[0])
    assert out.shape == tone().shape and np.isfinite(out).all()
