"""Device choice: CPU always works; unavailable or unknown devices are user errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tagger_core.errors import ConfigError
from tagger_core.listening import device
from tagger_core.listening.device import (
    available_devices,
    pick_device,
    resolve_device,
    set_threads,
)


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


def test_resolve_device_names_what_pick_device_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUSIC_TAGGER_DEVICE", raising=False)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == str(pick_device("auto"))
    monkeypatch.setenv("MUSIC_TAGGER_DEVICE", "cpu")
    assert resolve_device(None) == "cpu"
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("quantum")


@pytest.mark.skipif(device._gpu_possible(), reason="this machine shows GPU device nodes")
def test_auto_on_a_machine_without_gpu_nodes_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "from tagger_core.listening.device import resolve_device\n"
        "print(resolve_device('auto'), resolve_device('CPU'), 'torch' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MUSIC_TAGGER_DEVICE"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["cpu", "cpu", "False"]
