"""Shared-sample detection on soundfonts written byte by byte in the test.

The SF2/SF3 files are real RIFF ``sfbk`` structures; the SF3 holds real Ogg Vorbis
streams encoded by libsndfile, so the robust threshold is checked against a real
lossy round trip, not an imitation of one.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagger_core.errors import TaggerError
from tagger_core.training import soundfont_samples as ss

RATE = 22050
ROOT = Path(__file__).resolve().parents[2]


def tone(seed: int, n: int = 6000, f0: float = 220.0) -> np.ndarray:
    """A decaying harmonic tone with breath noise: a stand-in for one recorded note."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    x = sum(
        rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
        for k in range(1, 9)
    )
    x = x * np.exp(-t * rng.uniform(2, 6)) + 0.02 * rng.standard_normal(n)
    return (x / np.abs(x).max() * 20000).astype(np.int16)


def chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def riff_list(kind: bytes, *chunks: bytes) -> bytes:
    return chunk(b"LIST", kind + b"".join(chunks))


def shdr(name: str, start: int, end: int, kind: int = 1, rate: int = RATE) -> bytes:
    return ss.SHDR_RECORD.pack(name.encode()[:20], start, end, start, end, rate, 60, 0, 0, kind)


def write_sf2(path: Path, samples: dict[str, np.ndarray]) -> Path:
    """An SF2 with the given int16 samples (46 zero samples after each, as the spec asks)."""
    smpl, headers, pos = b"", b"", 0
    for name, pcm in samples.items():
        smpl += pcm.astype("<i2").tobytes() + b"\0" * 92
        headers += shdr(name, pos, pos + len(pcm))
        pos += len(pcm) + 46
    return write_riff(path, smpl, headers)


def write_sf3(path: Path, samples: dict[str, np.ndarray]) -> Path:
    """An SF3: each sample an Ogg Vorbis stream, start/end as byte offsets into smpl."""
    smpl, headers = b"", b""
    for name, pcm in samples.items():
        buf = io.BytesIO()
        sf.write(buf, pcm, RATE, format="OGG", subtype="VORBIS")
        blob = buf.getvalue()
        headers += shdr(name, len(smpl), len(smpl) + len(blob), kind=1 | ss.VORBIS_FLAG)
        smpl += blob
    return write_riff(path, smpl, headers)


def write_riff(path: Path, smpl: bytes, headers: bytes) -> Path:
    """The RIFF file; preset (bank 0, program 0) plays every sample but the last."""
    n = len(headers) // ss.SHDR_RECORD.size
    info = riff_list(b"INFO", chunk(b"ifil", struct.pack("<HH", 2, 1)), chunk(b"INAM", b"t\0"))
    sdta = riff_list(b"sdta", chunk(b"smpl", smpl))
    phdr = ss.PHDR_RECORD.pack(b"P", 0, 0, 0, 0, 0, 0)
    phdr += ss.PHDR_RECORD.pack(b"EOP", 0, 0, 1, 0, 0, 0)
    pbag = ss.BAG_RECORD.pack(0, 0) + ss.BAG_RECORD.pack(1, 0)
    pgen = ss.GEN_RECORD.pack(ss.GEN_INSTRUMENT, 0) + ss.GEN_RECORD.pack(0, 0)
    inst = ss.INST_RECORD.pack(b"I", 0) + ss.INST_RECORD.pack(b"EOI", max(n - 1, 0))
    ibag = b"".join(ss.BAG_RECORD.pack(k, 0) for k in range(max(n - 1, 0) + 1))
    igen = b"".join(ss.GEN_RECORD.pack(ss.GEN_SAMPLE_ID, k) for k in range(n - 1))
    pdta = riff_list(
        b"pdta",
        *(chunk(cid, body) for cid, body in (
            (b"phdr", phdr), (b"pbag", pbag), (b"pmod", b"\0" * 10), (b"pgen", pgen),
            (b"inst", inst), (b"ibag", ibag), (b"imod", b"\0" * 10),
            (b"igen", igen + ss.GEN_RECORD.pack(0, 0)),
            (b"shdr", headers + shdr("EOS", 0, 0, kind=0)),
        )),
    )  # fmt: skip
    path.write_bytes(chunk(b"RIFF", b"sfbk" + info + sdta + pdta))
    return path


def write_pat(path: Path, pcm: np.ndarray) -> Path:
    """A one-sample GUS patch holding 16-bit signed ``pcm``."""
    header = b"GF1PATCH110\0ID#000002\0".ljust(129, b"\0")
    instrument = b"\0" * 63
    layer = bytes([0, 0, 0, 0, 0, 0, 1]).ljust(47, b"\0")
    sample = ss.PAT_SAMPLE.pack(
        b"s", 0, 2 * len(pcm), 0, 2 * len(pcm), RATE, 0, 0, 261626, b"\0\0", 7,
        b"\0" * 6, b"\0" * 6, b"\0" * 3, b"\0" * 3, 1, 60, 1024, b"\0" * 36,
    )  # fmt: skip
    path.write_bytes(header + instrument + layer + sample + pcm.astype("<i2").tobytes())
    return path


def test_sf2_reader_returns_the_written_pcm(tmp_path: Path) -> None:
    a, b = tone(1), tone(2, n=4001)
    s = ss.read_soundfont(write_sf2(tmp_path / "x.sf2", {"Piano C4": a, "Flute A4": b}))
    assert [x.name for x in s.samples] == ["Piano C4", "Flute A4"]
    np.testing.assert_array_equal(s.samples[0].pcm, a)
    np.testing.assert_array_equal(s.samples[1].pcm, b)
    assert s.samples[1].rate == RATE and not s.samples[0].lossy


def test_shared_sample_found_exactly_even_under_another_name(tmp_path: Path) -> None:
    shared = tone(1)
    a = ss.read_soundfont(write_sf2(tmp_path / "a.sf2", {"Piano C4": shared, "Oboe": tone(2)}))
    b = ss.read_soundfont(
        write_sf2(tmp_path / "b.sf2", {"Renamed": shared, "Oboe": tone(3), "Horn": tone(4)})
    )
    row = ss.overlap(a, b)
    assert (row.total, row.by_data, row.exact) == (2, 1, 1)
    assert row.by_name == 1  # "Oboe": same name, different data: names mislead both ways
    assert ss.overlap(b, a).by_data == 1


def test_sf3_of_the_same_samples_matches_robustly(tmp_path: Path) -> None:
    samples = {"Piano C4": tone(1), "Flute A4": tone(2, n=9000, f0=440.0)}
    a = ss.read_soundfont(write_sf2(tmp_path / "a.sf2", samples))
    lossy = ss.read_soundfont(write_sf3(tmp_path / "a.sf3", samples))
    assert all(x.lossy for x in lossy.samples)
    for x, y in zip(a.samples, lossy.samples, strict=True):
        assert x.sha256 != y.sha256  # lossy: an exact hash cannot find it
        assert abs(len(x.pcm) - len(y.pcm)) <= ss.LENGTH_TOLERANCE
        assert ss.correlation(x.pcm, y.pcm) >= ss.CORRELATION_THRESHOLD
    row = ss.overlap(lossy, a)
    assert (row.by_data, row.exact) == (2, 0)


def test_different_samples_do_not_match_even_with_equal_rate_length_and_pitch(
    tmp_path: Path,
) -> None:
    # Same pitch, rate and length: only the recording differs (harmonic weights, phases, noise).
    a = ss.read_soundfont(write_sf2(tmp_path / "a.sf2", {"A": tone(1), "B": tone(2)}))
    b = ss.read_soundfont(write_sf3(tmp_path / "b.sf3", {"A": tone(11), "B": tone(12)}))
    assert max(ss.correlation(x.pcm, y.pcm) for x in a.samples for y in b.samples) < 0.9
    assert ss.overlap(a, b).by_data == 0
    assert ss.overlap(a, b).by_name == 2
    groups = ss.disjoint_groups(ss.overlap_table([a, b]), ["a.sf2", "b.sf3"])
    assert sorted(groups) == [["a.sf2"], ["b.sf3"]]


def test_gus_patch_sample_matches_the_soundfont_sample(tmp_path: Path) -> None:
    shared = tone(5)
    (tmp_path / "pats").mkdir()
    write_pat(tmp_path / "pats" / "000_Piano.pat", shared)
    pats = ss.read_sample_set(tmp_path / "pats")
    np.testing.assert_array_equal(pats.samples[0].pcm, shared)
    assert pats.samples[0].pitch == 60
    sf2 = ss.read_soundfont(write_sf2(tmp_path / "a.sf2", {"X": shared, "Y": tone(6)}))
    assert ss.overlap(pats, sf2).exact == 1
    groups = ss.disjoint_groups(ss.overlap_table([pats, sf2]), ["pats", "a.sf2"])
    assert groups == [["pats", "a.sf2"]]


def test_not_a_soundfont_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.sf2"
    bad.write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    with pytest.raises(TaggerError, match="not a soundfont"):
        ss.read_soundfont(bad)


def test_tool_prints_the_table_and_groups(tmp_path: Path) -> None:
    shared = tone(1)
    write_sf2(tmp_path / "a.sf2", {"P": shared, "Q": tone(2)})
    write_sf3(tmp_path / "b.sf3", {"P2": shared})
    write_sf2(tmp_path / "c.sf2", {"P": tone(3)})
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "soundfont_samples.py"),
         *(str(tmp_path / n) for n in ("a.sf2", "b.sf3", "c.sf2"))],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "| b.sf3 | 1 | a.sf2 | 1 (0) | 0 |" in out
    assert "| a.sf2 | 2 | c.sf2 | 0 (0) | 1 |" in out
    assert "Sample-disjoint groups: a.sf2 + b.sf3; c.sf2" in out


def test_per_program_sharing_follows_presets_to_their_samples(tmp_path: Path) -> None:
    shared = tone(1)
    a = ss.read_soundfont(
        write_sf3(tmp_path / "a.sf3", {"S": shared, "T": tone(2), "U (unplayed)": tone(3)})
    )
    b = ss.read_soundfont(write_sf2(tmp_path / "b.sf2", {"X": shared, "Y": tone(4)}))
    assert a.presets == {(0, 0): {0, 1}}
    shared_idx = ss.shared_samples(a, b)
    assert shared_idx == {0}
    assert ss.preset_sharing(a, shared_idx) == {0: (1, 2)}
