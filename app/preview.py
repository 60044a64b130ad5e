"""Audio preview through sounddevice, off when the machine cannot play sound.

Two ways a machine cannot play: PortAudio is not installed (``import
sounddevice`` raises OSError), or it lists no output device (headless
servers, containers). Either way the Play button is disabled and its tooltip
says why, rather than failing when pressed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PREVIEW_SECONDS = 30.0
PREVIEW_RATE = 22050


def _sounddevice() -> Any:
    import sounddevice

    return sounddevice


def output_problem() -> str | None:
    """Why audio cannot be played here, in one sentence; None when it can."""
    try:
        sd = _sounddevice()
    except (OSError, ImportError):
        return (
            "Preview needs the PortAudio library, which is not installed "
            "(on Debian/Ubuntu: apt-get install libportaudio2)."
        )
    try:
        devices = sd.query_devices()
        outputs = [d for d in devices if int(d.get("max_output_channels", 0)) > 0]
    except Exception as err:  # PortAudioError and friends
        return f"Preview is off: the audio system reports an error ({err})."
    if not outputs:
        return "Preview is off: this machine has no audio output device."
    return None


class Player:
    """Plays one clip at a time; ``stop`` is safe to call at any time."""

    def __init__(self) -> None:
        self.problem = output_problem()
        self.playing = False

    @property
    def available(self) -> bool:
        return self.problem is None

    def play(self, audio: np.ndarray, rate: int = PREVIEW_RATE) -> None:
        if self.problem is not None:
            return
        sd = _sounddevice()
        sd.stop()
        sd.play(audio, rate)
        self.playing = True

    def stop(self) -> None:
        if self.problem is None and self.playing:
            _sounddevice().stop()
        self.playing = False
