"""Which soundfonts share samples, judged by the sample data rather than by names.

A soundfont is only "held out" from another if none of its recorded samples are
in the other: names are edited freely between derived soundfonts (MuseScore_General
is built on FluidR3Mono), so names prove nothing either way. This module reads the
samples themselves:

* SF2 (RIFF ``sfbk``): ``pdta/shdr`` sample headers, 16-bit PCM in ``sdta/smpl``;
* SF3: the same layout, but a sample whose type has bit 0x10 set is an Ogg Vorbis
  stream at ``smpl[start:end]`` (byte offsets), decoded here with libsndfile;
* GUS patches (``.pat``, as in ``freepats``): the wave data after each patch's
  sample header (8/16-bit, signed or unsigned).

Lossless samples match *exactly* (sha256 of the int16 PCM). Lossy ones cannot, so
two samples also match *robustly* when they have the same rate, lengths within
``LENGTH_TOLERANCE`` samples and a normalised correlation of at least
``CORRELATION_THRESHOLD`` over their common length. The threshold is checked in
the tests with a real Ogg Vorbis round trip: a lossy copy of a sample correlates
above 0.99 with it, while different recorded-like samples stay far below.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagger_core.errors import TaggerError

SHDR_RECORD = struct.Struct("<20sIIIIIBbHH")  # 46 bytes
VORBIS_FLAG = 0x10
ROM_FLAG = 0x8000
LENGTH_TOLERANCE = 8
CORRELATION_THRESHOLD = 0.99
MIN_SAMPLES = 64  # shorter samples (silence stubs, clicks) match too easily to mean anything


@dataclass
class Sample:
    """One sample's identity: its name (for contrast only) and its audio."""

    name: str
    rate: int
    pitch: int
    kind: int
    pcm: np.ndarray  # int16, mono
    lossy: bool
    index: int = -1  # position in the soundfont's shdr (what instrument zones refer to)
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(np.ascontiguousarray(self.pcm, "<i2").tobytes()).hexdigest()


@dataclass
class SampleSet:
    """All samples of one soundfont (or one folder of GUS patches)."""

    name: str
    samples: list[Sample]
    # (bank, program) -> shdr indices its zones play; empty for GUS patch folders
    presets: dict[tuple[int, int], set[int]] = field(default_factory=dict)


def _chunks(data: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    """Map a RIFF level's chunk ids (LIST chunks by their list type) to (offset, size)."""
    out: dict[str, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        cid = data[pos : pos + 4].decode("latin-1")
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if cid == "LIST":
            out[data[body : body + 4].decode("latin-1")] = (body + 4, size - 4)
        else:
            out[cid] = (body, size)
        pos = body + size
        if size & 1 and not _is_chunk_id(data[pos : pos + 4]):
            pos += 1  # the RIFF pad byte; some SF3 writers omit it, so only skip a real one
    return out


def _is_chunk_id(raw: bytes) -> bool:
    return len(raw) == 4 and all(32 <= c < 127 for c in raw)


def _decode_vorbis(blob: bytes) -> np.ndarray:
    """Decode one SF3 sample's Ogg Vorbis stream to int16 mono."""
    import soundfile as sf

    audio, _ = sf.read(io.BytesIO(blob), dtype="int16", always_2d=True)
    return audio[:, 0].copy()


def read_soundfont(path: str | Path) -> SampleSet:
    """Read the samples of an SF2 or SF3 file (ROM samples and the terminal record skipped)."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise TaggerError(f"not a soundfont (RIFF sfbk): {path}")
    top = _chunks(data, 12, len(data))
    if "sdta" not in top or "pdta" not in top:
        raise TaggerError(f"soundfont without sdta/pdta lists: {path}")
    sdta = _chunks(data, top["sdta"][0], sum(top["sdta"]))
    pdta = _chunks(data, top["pdta"][0], sum(top["pdta"]))
    if "shdr" not in pdta or "smpl" not in sdta:
        raise TaggerError(f"soundfont without sample headers or sample data: {path}")
    smpl_off, smpl_size = sdta["smpl"]
    shdr_off, shdr_size = pdta["shdr"]
    samples = []
    for i in range(shdr_size // SHDR_RECORD.size - 1):  # the last record is "EOS"
        name, start, end, _ls, _le, rate, pitch, _corr, _link, kind = SHDR_RECORD.unpack_from(
            data, shdr_off + i * SHDR_RECORD.size
        )
        if kind & ROM_FLAG or end <= start:
            continue
        lossy = bool(kind & VORBIS_FLAG)
        if lossy:
            if end > smpl_size:
                raise TaggerError(f"sample {i} lies outside the sample data: {path}")
            pcm = _decode_vorbis(data[smpl_off + start : smpl_off + end])
        else:
            if 2 * end > smpl_size:
                raise TaggerError(f"sample {i} lies outside the sample data: {path}")
            pcm = np.frombuffer(data, "<i2", end - start, smpl_off + 2 * start).copy()
        samples.append(Sample(_name(name), rate, pitch, kind & ~VORBIS_FLAG, pcm, lossy, i))
    return SampleSet(path.name, samples, _preset_samples(data, pdta))


PHDR_RECORD = struct.Struct("<20sHHHIII")  # 38 bytes
INST_RECORD = struct.Struct("<20sH")  # 22 bytes
BAG_RECORD = struct.Struct("<HH")
GEN_RECORD = struct.Struct("<HH")
GEN_INSTRUMENT = 41
GEN_SAMPLE_ID = 53


def _records(data: bytes, where: tuple[int, int], record: struct.Struct) -> list[tuple]:
    off, size = where
    return [record.unpack_from(data, off + k * record.size) for k in range(size // record.size)]


def _preset_samples(data: bytes, pdta: dict[str, tuple[int, int]]) -> dict:
    """Which samples each preset plays: preset zones -> instruments -> instrument zones."""
    needed = ("phdr", "pbag", "pgen", "inst", "ibag", "igen")
    if any(k not in pdta for k in needed):
        return {}
    layouts = (PHDR_RECORD, BAG_RECORD, GEN_RECORD, INST_RECORD, BAG_RECORD, GEN_RECORD)
    phdr, pbag, pgen, inst, ibag, igen = (
        _records(data, pdta[k], r) for k, r in zip(needed, layouts, strict=True)
    )

    def generators(bags: list[tuple], gens: list[tuple], first: int, last: int, oper: int):
        for bag in range(first, min(last, len(bags) - 1)):
            for g in range(bags[bag][0], bags[bag + 1][0]):
                if gens[g][0] == oper:
                    yield gens[g][1]

    def instrument_samples(i: int) -> set[int]:
        if i + 1 >= len(inst):
            return set()
        return set(generators(ibag, igen, inst[i][1], inst[i + 1][1], GEN_SAMPLE_ID))

    out: dict[tuple[int, int], set[int]] = {}
    for k in range(len(phdr) - 1):  # the last record is "EOP"
        _name_, program, bank, first = phdr[k][:4]
        last = phdr[k + 1][3]
        used = generators(pbag, pgen, first, last, GEN_INSTRUMENT)
        out[(bank, program)] = set().union(*(instrument_samples(i) for i in used))
    return out


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


PAT_HEADER = 129 + 63 + 47  # file header, instrument header, layer header
PAT_SAMPLE = struct.Struct("<7sBIIIHIII2sB6s6s3s3sBHH36s")  # 96 bytes


def read_gus_patch(path: str | Path) -> list[Sample]:
    """Read the wave data of one GUS ``.pat`` file (every sample of its one layer)."""
    path = Path(path)
    data = path.read_bytes()
    if not data.startswith((b"GF1PATCH110", b"GF1PATCH100")):
        raise TaggerError(f"not a GUS patch: {path}")
    n_samples = data[PAT_HEADER - 47 + 6]
    pos = PAT_HEADER
    out = []
    for k in range(n_samples):
        fields = PAT_SAMPLE.unpack_from(data, pos)
        size, rate, root_mhz, modes = fields[2], fields[5], fields[8], fields[15]
        pos += PAT_SAMPLE.size
        raw = data[pos : pos + size]
        pos += size
        if len(raw) < size:
            raise TaggerError(f"truncated GUS patch: {path}")
        if modes & 1:  # 16-bit
            pcm = np.frombuffer(raw, "<u2" if modes & 2 else "<i2")
            pcm = (pcm.astype(np.int32) - (32768 if modes & 2 else 0)).astype(np.int16)
        else:
            pcm8 = np.frombuffer(raw, np.uint8 if modes & 2 else np.int8).astype(np.int16)
            pcm = ((pcm8 - (128 if modes & 2 else 0)) * 256).astype(np.int16)
        pitch = int(round(69 + 12 * np.log2(max(root_mhz, 1) / 440000.0)))
        out.append(Sample(f"{path.stem}#{k}", rate, pitch, 1, pcm, False))
    return out


def read_gus_folder(folder: str | Path, name: str | None = None) -> SampleSet:
    """Read every ``.pat`` under ``folder`` as one sample set (freepats is one such folder)."""
    folder = Path(folder)
    samples = [s for pat in sorted(folder.rglob("*.pat")) for s in read_gus_patch(pat)]
    return SampleSet(name or folder.name, samples)


def read_sample_set(path: str | Path) -> SampleSet:
    """Read a soundfont file, or a folder of GUS patches."""
    path = Path(path)
    if path.is_dir():
        return read_gus_folder(path)
    if not path.is_file():
        raise TaggerError(f"no such soundfont: {path}")
    return read_soundfont(path)


def _normalised(pcm: np.ndarray) -> np.ndarray | None:
    x = pcm.astype(np.float64)
    x -= x.mean()
    norm = np.sqrt(np.dot(x, x))
    return None if norm == 0 else x / norm


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of two samples over their common length (0 for silence)."""
    n = min(len(a), len(b))
    xa, xb = _normalised(a[:n]), _normalised(b[:n])
    if xa is None or xb is None:
        return 0.0
    return float(np.dot(xa, xb))


@dataclass
class Overlap:
    """How many of A's samples are also in B: by data, and by name for contrast."""

    a: str
    b: str
    total: int
    by_data: int
    exact: int
    by_name: int


def _usable(s: SampleSet) -> list[Sample]:
    return [x for x in s.samples if len(x.pcm) >= MIN_SAMPLES]


class _SampleIndex:
    """B's samples by hash, and by rate and length for the robust test."""

    def __init__(self, b: SampleSet) -> None:
        samples = _usable(b)
        self.hashes = {x.sha256 for x in samples}
        self.by_rate: dict[int, list[Sample]] = defaultdict(list)
        for x in sorted(samples, key=lambda y: len(y.pcm)):
            self.by_rate[x.rate].append(x)
        self.lengths = {rate: [len(y.pcm) for y in g] for rate, g in self.by_rate.items()}

    def match(self, x: Sample) -> str | None:
        """Return "exact", "robust" or None.

        The robust test runs for lossless pairs too, so a copy converted (8 to 16
        bit, a changed gain) still counts as shared.
        """
        if x.sha256 in self.hashes:
            return "exact"
        group, lens = self.by_rate.get(x.rate, []), self.lengths.get(x.rate, [])
        lo = bisect.bisect_left(lens, len(x.pcm) - LENGTH_TOLERANCE)
        hi = bisect.bisect_right(lens, len(x.pcm) + LENGTH_TOLERANCE)
        if any(correlation(x.pcm, y.pcm) >= CORRELATION_THRESHOLD for y in group[lo:hi]):
            return "robust"
        return None


def overlap(a: SampleSet, b: SampleSet) -> Overlap:
    """Count A's samples that B also holds: exact hash, else robust correlation, and by name."""
    index = _SampleIndex(b)
    samples_a = _usable(a)
    found = [index.match(x) for x in samples_a]
    names = {x.name.lower() for x in _usable(b)}
    by_name = sum(x.name.lower() in names for x in samples_a)
    exact = found.count("exact")
    return Overlap(a.name, b.name, len(samples_a), exact + found.count("robust"), exact, by_name)


def shared_samples(a: SampleSet, b: SampleSet) -> set[int]:
    """shdr indices of A's samples that B also holds by data (exact or robust)."""
    index = _SampleIndex(b)
    return {x.index for x in _usable(a) if index.match(x)}


def preset_sharing(a: SampleSet, shared: set[int], bank: int = 0) -> dict[int, tuple[int, int]]:
    """Program -> (samples it plays that are in ``shared``, samples it plays), one bank."""
    usable = {x.index for x in _usable(a)}
    out = {}
    for (b, program), used in sorted(a.presets.items()):
        if b == bank:
            played = used & usable
            out[program] = (len(played & shared), len(played))
    return out


def overlap_table(sets: list[SampleSet]) -> list[Overlap]:
    """Every ordered pair of distinct sample sets."""
    return [overlap(a, b) for a in sets for b in sets if a is not b]


def disjoint_groups(table: list[Overlap], names: list[str]) -> list[list[str]]:
    """Connected components of 'shares at least one sample by data' (either direction)."""
    parent = {n: n for n in names}

    def find(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for row in table:
        if row.by_data:
            parent[find(row.a)] = find(row.b)
    groups: dict[str, list[str]] = defaultdict(list)
    for n in names:
        groups[find(n)].append(n)
    return list(groups.values())
