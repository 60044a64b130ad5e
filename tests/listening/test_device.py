"""Device choice: CPU always works; unavailable or unknown devices are user errors."""

from __future__ import annotations

import pytest
import torch

from tagger_core.errors import ConfigError
from tagger_core.listening.device import available_devices, pick_device, set_threads


def test_auto_prefers_the_best_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUSIC_TAGGER_DEVICE", raising=False)
    assert available_devices()[-1] == "cpu"
    assert pick_device(None).type == available_devices()[0]
    assert pick_device("cpu") == torch.device("cpu")


def test_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSIC_TAGGER_DEVICE", "cpu")
    assert pick_device(None).type == "cpu"
    monkeypatch.setenv("MUSIC_TAGGER_DEVICE", "quantum")
    with pytest.raises(ConfigError, match="unknown device"):
        pick_device(None)
    assert pick_device("cpu").type == "cpu"  # an explicit choice beats the environment


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        pick_device("cuda")


def test_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("MUSIC_TAGGER_THREADS", "2")
        assert set_threads(None) == 2
        monkeypatch.setenv("MUSIC_TAGGER_THREADS", "many")
        with pytest.raises(ConfigError):
            set_threads(None)
        with pytest.raises(ConfigError):
            set_threads(0)
    finally:
        torch.set_num_threads(before)
