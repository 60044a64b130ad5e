"""Decoding every accepted format to mono float32 at a chosen rate."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagger_core.errors import DecodeError
from tagger_core.listening.decode import decode, decode_regions, ffmpeg_available, probe_duration

NATIVE_SR = 44100
SECONDS = 1.5
HAVE_FFMPEG = shutil.which("ffmpeg") is not None


def _signal() -> np.ndarray:
    """Stereo: 440 Hz in both channels, plus opposite-phase 1 kHz that cancels in mono."""
    t = np.arange(int(NATIVE_SR * SECONDS)) / NATIVE_SR
    a = 0.4 * np.sin(2 * np.pi * 440.0 * t)
    b = 0.2 * np.sin(2 * np.pi * 1000.0 * t)
    return np.stack([a + b, a - b], axis=1).astype(np.float32)


def _ffmpeg_encode(src: Path, dst: Path, *codec: str) -> Path | None:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *codec, str(dst)]
    result = subprocess.run(cmd, capture_output=True, check=False)
    return dst if result.returncode == 0 and dst.stat().st_size > 0 else None


# extension -> how to make it: ("sf", format, subtype) or ("ffmpeg", codec args)
FORMATS = {
    "wav": ("sf", "WAV", "PCM_16"),
    "flac": ("sf", "FLAC", "PCM_16"),
    "ogg": ("sf", "OGG", "VORBIS"),
    "oga": ("sf", "OGG", "VORBIS"),
    "aiff": ("sf", "AIFF", "PCM_16"),
    "aif": ("sf", "AIFF", "PCM_16"),
    "mp3": ("sf", "MP3", "MPEG_LAYER_III"),
    "opus": ("ffmpeg", "-c:a", "libopus", "-b:a", "64k"),
    "m4a": ("ffmpeg", "-c:a", "aac", "-b:a", "96k"),
    "mp4": ("ffmpeg", "-c:a", "aac", "-b:a", "96k", "-f", "mp4"),
    "aac": ("ffmpeg", "-c:a", "aac", "-b:a", "96k", "-f", "adts"),
    "alac": ("ffmpeg", "-c:a", "alac", "-f", "ipod"),
    "wma": ("ffmpeg", "-c:a", "wmav2", "-b:a", "96k"),
    "wv": ("ffmpeg", "-c:a", "wavpack"),
    "ape": ("ffmpeg", "-c:a", "ape"),  # no encoder exists: skipped with that reason
}
LOSSLESS = {"wav", "flac", "aiff", "aif", "alac", "wv", "ape"}


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    signal = _signal()
    master = folder / "master.wav"
    sf.write(master, signal, NATIVE_SR, subtype="FLOAT")
    files: dict[str, Path] = {}
    for ext, recipe in FORMATS.items():
        dst = folder / f"clip.{ext}"
        if recipe[0] == "sf":
            sf.write(dst, signal, NATIVE_SR, format=recipe[1], subtype=recipe[2])
            files[ext] = dst
        elif HAVE_FFMPEG:
            made = _ffmpeg_encode(master, dst, *recipe[1:])
            if made is not None:
                files[ext] = made
    return files


def _peak_hz(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / sr)[spectrum.argmax()])


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_every_format_decodes_to_mono_at_requested_rate(
    audio_files: dict[str, Path], ext: str
) -> None:
    if ext not in audio_files:
        pytest.skip(f"ffmpeg cannot encode .{ext} on this machine (no encoder)")
    audio = decode(audio_files[ext], sr=16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # lossy codecs add encoder delay / padding (a few thousand samples at most)
    assert abs(audio.size - SECONDS * 16000) < 0.12 * 16000
    middle = audio[4000:20000]
    assert abs(_peak_hz(middle, 16000) - 440.0) < 2.0
    # the opposite-phase 1 kHz component must cancel in the mono mix
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    freqs = np.fft.rfftfreq(middle.size, 1 / 16000)
    assert spectrum[np.abs(freqs - 1000).argmin()] < 0.05 * spectrum.max()
    if ext in LOSSLESS:
        t = np.arange(audio.size) / 16000
        expected = 0.4 * np.sin(2 * np.pi * 440.0 * t)
        assert np.abs(audio[2000:-2000] - expected[2000:-2000]).max() < 2e-3


def test_ape_goes_to_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # no Monkey's Audio encoder exists here (ffmpeg only decodes ape), so no real
    # .ape file can be made; check the routing and the messages instead
    fake = tmp_path / "album.ape"
    fake.write_bytes(b"MAC " + bytes(2000))
    with pytest.raises(DecodeError, match="album.ape"):
        decode(fake)
    monkeypatch.setenv("MUSIC_TAGGER_FFMPEG", str(tmp_path / "absent"))
    with pytest.raises(DecodeError, match="needs ffmpeg"):
        decode(fake)


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "wv"])
def test_probe_duration(audio_files: dict[str, Path], ext: str) -> None:
    if ext not in audio_files:
        pytest.skip(f"no .{ext} encoder")
    assert probe_duration(audio_files[ext]) == pytest.approx(SECONDS, abs=0.1)


@pytest.mark.parametrize("ext", ["flac", "wv"])
def test_region_matches_the_same_stretch_of_the_full_decode(
    audio_files: dict[str, Path], ext: str
) -> None:
    if ext not in audio_files:
        pytest.skip(f"no .{ext} encoder")
    full = decode(audio_files[ext], sr=16000)
    part = decode(audio_files[ext], sr=16000, offset_s=0.5, duration_s=0.5)
    assert abs(part.size - 8000) <= 2
    # compare away from the edges, where resampling filters see different context
    assert np.abs(part[500:7500] - full[8500:15500]).max() < 1e-3
    first, second = decode_regions(audio_files[ext], [(0.0, 0.25), (1.0, None)], sr=8000)
    assert abs(first.size - 2000) <= 2 and abs(second.size - 4000) <= 2


def test_native_rate_is_returned_unresampled(audio_files: dict[str, Path]) -> None:
    audio = decode(audio_files["wav"], sr=NATIVE_SR)
    assert audio.size == int(NATIVE_SR * SECONDS)


def test_undecodable_and_missing_files_raise_decode_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(DecodeError):
        decode(junk)
    text = tmp_path / "notes.flac"
    text.write_text("this is not audio\n" * 50)
    with pytest.raises(DecodeError) as info:
        decode(text)
    assert "\n" not in str(info.value)
    with pytest.raises(DecodeError):
        decode(tmp_path / "missing.wav")
    with pytest.raises(DecodeError):
        probe_duration(text)


def test_clear_message_when_ffmpeg_is_absent(
    audio_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if "m4a" not in audio_files:
        pytest.skip("no m4a encoder")
    monkeypatch.setenv("MUSIC_TAGGER_FFMPEG", str(tmp_path / "no-ffmpeg-here"))
    assert not ffmpeg_available()
    with pytest.raises(DecodeError, match="needs ffmpeg"):
        decode(audio_files["m4a"])
    # formats libsndfile reads keep working
    assert decode(audio_files["flac"]).size > 0


def test_a_header_claiming_billions_of_frames_decodes_what_is_there(tmp_path: Path) -> None:
    """A flipped bit in an MP3's Xing header once made soundfile allocate 36 GiB and fail."""
    from audio_files import make_audio

    path = make_audio(tmp_path / "lying.mp3", seconds=1.0)
    data = bytearray(path.read_bytes())
    at = max(data.find(b"Xing"), data.find(b"Info"))
    assert at > 0 and data[at + 7] & 1, "the encoder wrote no frame count"
    data[at + 8 : at + 12] = (0x7FFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames > 10**11  # what the header claims
    audio = decode(path, 16000)
    assert 0.9 * 16000 <= audio.size <= 1.2 * 16000
    tail = decode(path, 16000, offset_s=0.5, duration_s=10.0)
    assert 0.4 * 16000 <= tail.size <= 0.7 * 16000


def test_a_path_over_1024_bytes_decodes_without_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libsndfile refuses file names over 1,024 bytes; archives nest that deep."""
    from audio_files import make_audio

    short = make_audio(tmp_path / "clip.flac", seconds=1.0)
    deep = tmp_path
    while len(str(deep)) < 1100:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    path = deep / "clip.flac"
    short.rename(path)
    monkeypatch.setenv("MUSIC_TAGGER_FFMPEG", "")
    assert not ffmpeg_available()
    audio = decode(path, 16000)
    assert audio.size == 16000
    assert probe_duration(path) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_a_multichannel_file_decodes_to_the_mean_of_its_channels(
    tmp_path: Path, channels: int
) -> None:
    rng = np.random.default_rng(channels)
    data = (0.3 * rng.standard_normal((16000, channels))).astype(np.float32)
    path = tmp_path / f"{channels}ch.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    mono = decode(path, 16000)
    assert mono.dtype == np.float32 and mono.shape == (16000,)
    np.testing.assert_allclose(mono, data.mean(axis=1), rtol=0, atol=1e-7)
    if channels <= 2:  # the same numbers as numpy's mean
        np.testing.assert_array_equal(mono, data.mean(axis=1, dtype=np.float32))
