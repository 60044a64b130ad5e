"""Spectrogram pictures and preview decoding on real generated files."""

from __future__ import annotations

import numpy as np
import pytest
from audio_files import make_audio

from app.preview import PREVIEW_RATE, Player, output_problem
from app.spectrogram import N_MELS, load_clip, log_mel, to_rgb
from tagger_core.errors import DecodeError


def test_clip_to_picture(tmp_path):
    path = make_audio(tmp_path / "a.ogg", seconds=2.0, style="rock")
    audio = load_clip(str(path), seconds=1.0)
    assert audio.dtype == np.float32 and abs(len(audio) - PREVIEW_RATE) < PREVIEW_RATE * 0.02
    db = log_mel(audio)
    assert db.shape[0] == N_MELS and db.max() == pytest.approx(0.0) and db.min() >= -80.0
    rgb = to_rgb(db)
    assert rgb.shape == (N_MELS, db.shape[1], 3) and rgb.dtype == np.uint8
    assert rgb.std() > 10, "a real signal gives a picture with contrast"


def test_undecodable_file_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"nothing audio here" * 50)
    with pytest.raises(DecodeError):
        load_clip(str(bad))


def test_player_says_why_it_cannot_play():
    player = Player()
    assert player.problem == output_problem()
    if player.problem is not None:
        assert not player.available
        player.play(np.zeros(10, dtype=np.float32))  # a no-op, never an exception
        player.stop()
