"""The instrument-family data recipe: MIDI clips rendered through General MIDI soundfonts.

Why synthetic: no permissively licensed instrument-family data or weights can
be downloaded here, so, like NSynth, we make audio whose ground truth is known
exactly: every clip is a few seconds of MIDI (a generated phrase or an excerpt
of a score from music21's corpus) played by 1–4 General MIDI programs, some
with drums, reverb, chorus and level variation, rendered with the ``fluidsynth``
command-line synthesiser. A clip's labels are the NSynth families of the
programs that play notes in it (:data:`GM_FAMILY`); drums carry no label.

Many clips go into one MIDI file (each followed by silence and "all sound off"),
so one ``fluidsynth`` run renders hundreds of clips; the audio is then cut back
into clips. Everything is driven by a ``numpy`` random generator, so a seed
gives the same MIDI and, with the same soundfont and FluidSynth, the same audio.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tagger_core.errors import TaggerError
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.training.degradation import Degradation, degrade, draw_degradation
from tagger_core.training.synth_voices import SYNTH_SOURCE, render_clip

FAMILIES: tuple[str, ...] = INSTRUMENT_FAMILIES


def _programs(spec: dict[str, Sequence[int]]) -> dict[int, str]:
    return {program: family for family, programs in spec.items() for program in programs}


#: General MIDI program (0-based) → NSynth instrument family. Programs whose
#: family is ambiguous (accordions, harp, timpani, synth strings and pads,
#: sound effects, ethnic plucked strings, percussion) are left out.
GM_FAMILY: dict[int, str] = _programs(
    {
        "keyboard": [0, 1, 2, 3, 4, 5, 6, 7],
        "mallet": [8, 9, 10, 11, 12, 13, 14, 108],
        "organ": [16, 17, 18, 19, 20],
        "guitar": [24, 25, 26, 27, 28, 29, 30, 31, 105],
        "bass": [32, 33, 34, 35, 36, 37, 38, 39],
        "string": [40, 41, 42, 43, 44, 45, 48, 49, 110],
        "vocal": [52, 53],
        "brass": [56, 57, 58, 59, 60, 61, 62, 63],
        "reed": [22, 64, 65, 66, 67, 68, 69, 70, 71, 109, 111],
        "flute": [72, 73, 74, 75, 77, 79],
        "synth_lead": [80, 81, 82, 83, 84, 85, 86, 87],
    }
)

#: Playable MIDI pitch range used for each family's generated phrases.
FAMILY_RANGE: dict[str, tuple[int, int]] = {
    "bass": (28, 55), "brass": (45, 77), "flute": (60, 93), "guitar": (40, 76),
    "keyboard": (36, 96), "mallet": (53, 96), "organ": (36, 84), "reed": (46, 84),
    "string": (43, 88), "synth_lead": (48, 84), "vocal": (48, 79),
}  # fmt: skip

_CHORDAL = {"keyboard", "guitar", "organ", "string", "mallet", "brass"}
DRUM_CHANNEL = 9
MELODIC_CHANNELS = (0, 1, 2, 3, 4, 5)
TICKS_PER_SECOND = 960  # 480 ticks per beat at 120 bpm


def family_of_program(program: int) -> str | None:
    """NSynth family of a 0-based GM program, ``None`` for programs left out."""
    return GM_FAMILY.get(int(program))


def programs_of(family: str) -> list[int]:
    """GM programs mapped to ``family``, in program order."""
    return sorted(p for p, f in GM_FAMILY.items() if f == family)


@dataclass(frozen=True)
class Note:
    """One MIDI note, in seconds from the start of its clip."""

    start: float
    duration: float
    pitch: int
    velocity: int


@dataclass
class Part:
    """One instrument of a clip: a GM program on one channel with its mix settings."""

    program: int
    channel: int
    notes: list[Note]
    volume: int = 100
    reverb: int = 40
    chorus: int = 0
    pan: int = 64

    @property
    def family(self) -> str | None:
        return None if self.channel == DRUM_CHANNEL else family_of_program(self.program)


@dataclass
class ClipSpec:
    """Everything needed to render one clip and to know its labels."""

    index: int
    parts: list[Part]
    gain_db: float
    source: str
    drums: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def families(self) -> list[str]:
        """Families that play at least one note (the clip's labels)."""
        return sorted({p.family for p in self.parts if p.family and p.notes})

    def label_vector(self) -> np.ndarray:
        """Multi-hot ``[len(FAMILIES)]`` uint8 vector of :attr:`families`."""
        out = np.zeros(len(FAMILIES), dtype=np.uint8)
        for family in self.families:
            out[FAMILIES.index(family)] = 1
        return out


# ------------------------------------------------------------------ phrases


def generate_phrase(rng: np.random.Generator, family: str, seconds: float) -> list[Note]:
    """A random phrase filling ``seconds``: pitch walk, rhythm, velocity and articulation.

    Each phrase draws its own register (a window inside the family's range),
    tempo, articulation (staccato 0.35 … legato 1.0 of each step) and dynamic;
    chord-capable families sometimes play 2–3 note chords.
    """
    low, high = FAMILY_RANGE[family]
    span = int(rng.integers(7, 20))
    lo = int(rng.integers(low, max(low + 1, high - span)))
    hi = min(high, lo + span)
    beat = float(rng.uniform(0.3, 0.8))
    steps = np.array([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 3.0]) * beat
    articulation = float(rng.uniform(0.35, 1.0))
    dynamic = int(rng.integers(45, 121))
    chord_prob = 0.35 if family in _CHORDAL else 0.0
    pitch = int(rng.integers(lo, hi + 1))
    notes: list[Note] = []
    t = float(rng.uniform(0.0, 0.15))
    while t < seconds:
        step = float(rng.choice(steps))
        if notes and rng.random() < 0.08:  # a short rest
            t += step
            continue
        pitch = int(np.clip(pitch + rng.integers(-4, 5), lo, hi))
        velocity = int(np.clip(dynamic + rng.integers(-12, 13), 1, 127))
        duration = max(0.05, step * articulation)
        chord = [pitch]
        if rng.random() < chord_prob:
            for interval in rng.choice([3, 4, 5, 7, 8, 9, 12], size=int(rng.integers(1, 3))):
                if pitch + int(interval) <= 108:
                    chord.append(pitch + int(interval))
        for p in sorted(set(chord)):
            notes.append(Note(round(t, 4), round(min(duration, seconds - t + 0.5), 4), p, velocity))
        t += step
    return notes


def drum_pattern(rng: np.random.Generator, seconds: float) -> list[Note]:
    """A kit groove on an eighth-note grid: kick, snare, hi-hat or ride, fills."""
    eighth = float(rng.uniform(0.13, 0.3))
    hat = int(rng.choice([42, 42, 46, 51]))
    base = int(rng.integers(60, 120))
    notes = []
    for i in range(int(seconds / eighth) + 1):
        t = round(i * eighth, 4)
        if t >= seconds:
            break
        vel = int(np.clip(base + rng.integers(-15, 10), 1, 127))
        notes.append(Note(t, eighth * 0.9, hat, max(1, vel - 20)))
        if i % 4 == 0 or (i % 8 == 7 and rng.random() < 0.3):
            notes.append(Note(t, eighth * 0.9, 36, vel))
        if i % 4 == 2 or rng.random() < 0.05:
            notes.append(Note(t, eighth * 0.9, 38, vel))
        if i == 0 and rng.random() < 0.3:
            notes.append(Note(t, eighth, 49, vel))
    return notes


# ------------------------------------------------------------------- corpus

Score = list[list[tuple[float, float, tuple[int, ...]]]]  # parts of (onset_q, dur_q, pitches)


def load_corpus_scores(n_scores: int, composer: str = "bach") -> list[Score]:
    """The first ``n_scores`` multi-part scores of ``composer`` in music21's corpus.

    Needs the optional ``music21`` package; each score becomes a list of parts,
    each a list of ``(onset, duration, pitches)`` in quarter notes (ties merged).
    """
    try:
        from music21 import corpus  # noqa: PLC0415 (optional, heavy)
    except ImportError:
        raise TaggerError("the score corpus needs music21: pip install music21") from None
    scores: list[Score] = []
    for path in sorted(str(p) for p in corpus.getComposer(composer)):
        if len(scores) >= n_scores:
            break
        if not path.endswith((".mxl", ".xml", ".krn")):
            continue
        score = corpus.parse(path)
        parts: Score = []
        for part in score.parts:
            events = [
                (float(n.offset), float(n.quarterLength), tuple(int(p.midi) for p in n.pitches))
                for n in part.stripTies().flatten().notes
                if float(n.quarterLength) > 0
            ]
            if len(events) >= 8:
                parts.append(events)
        if len(parts) >= 2:
            scores.append(parts)
    return scores


def corpus_excerpt(
    rng: np.random.Generator, score: Score, families: Sequence[str], seconds: float
) -> list[list[Note]]:
    """A random excerpt of ``score`` at a random tempo, one part per family,
    each moved by octaves so that its median pitch sits inside the family's range."""
    quarter = float(rng.uniform(0.35, 0.8))
    end_q = max(e[0] + e[1] for part in score for e in part)
    window_q = seconds / quarter
    start_q = float(rng.uniform(0.0, max(0.0, end_q - window_q)))
    chosen = rng.choice(len(score), size=len(families), replace=len(families) > len(score))
    dynamic = int(rng.integers(50, 115))
    out = []
    for family, index in zip(families, chosen, strict=True):
        part = score[int(index)]
        low, high = FAMILY_RANGE[family]
        median = float(np.median([p for e in part for p in e[2]]))
        shift = 12 * round(((low + high) / 2 - median) / 12)
        notes = []
        for onset, dur, pitches in part:
            if onset + dur <= start_q or onset >= start_q + window_q:
                continue
            t = max(0.0, (onset - start_q) * quarter)
            d = min((onset + dur - start_q) * quarter, seconds + 0.5) - t
            vel = int(np.clip(dynamic + rng.integers(-10, 11), 1, 127))
            for p in pitches:
                notes.append(Note(round(t, 4), round(max(d, 0.05), 4), int(p + shift), vel))
        out.append(notes)
    return out


# -------------------------------------------------------------------- clips

N_INSTRUMENT_PROBS = (0.35, 0.3, 0.2, 0.15)  # 1, 2, 3, 4 instruments


@dataclass(frozen=True)
class MixRecipe:
    """How a clip's instruments, drums and degradation are drawn.

    The default is v1's recipe (1–4 distinct families, 30 % drums, no degradation
    beyond the level); ``degrade`` adds a :class:`Degradation` per clip (rooms,
    quiet to clipped levels, lossy codecs), drawn after everything else so the
    notes of a seed stay those of v1.
    """

    instrument_probs: tuple[float, ...] = N_INSTRUMENT_PROBS  # P(1), P(2), … instruments
    distinct_families: bool = True
    drum_fraction: float = 0.3
    corpus_fraction: float = 0.35
    degrade: bool = False
    room_prob: float = 0.5
    rt60_range: tuple[float, float] = (0.15, 1.8)
    gain_range: tuple[float, float] = (-30.0, 6.0)
    codec_prob: float = 0.3


#: v2's training recipe: v1's mixes plus rooms, levels from quiet to clipped and codecs.
V2_TRAINING_MIX = MixRecipe(degrade=True)
#: A mix no v2 member was trained on: 5–6 instruments (families may repeat), always
#: drums, always a long room (RT60 2–3 s, longer than any in training).
DENSE_UNSEEN_MIX = MixRecipe(
    instrument_probs=(0.0, 0.0, 0.0, 0.0, 0.5, 0.5), distinct_families=False,
    drum_fraction=1.0, degrade=True, room_prob=1.0, rt60_range=(2.0, 3.0),
)  # fmt: skip


def make_clip(
    rng: np.random.Generator,
    index: int,
    seconds: float,
    scores: Sequence[Score] = (),
    corpus_fraction: float = 0.35,
    drum_fraction: float = 0.3,
    programs: Collection[int] | None = None,
    mix: MixRecipe | None = None,
) -> ClipSpec:
    """Draw one clip: its families, a program for each (among ``programs`` when given),
    their notes, mix and, for a degrading ``mix``, its room, level and codec."""
    if mix is not None:
        corpus_fraction, drum_fraction = mix.corpus_fraction, mix.drum_fraction
    probs = mix.instrument_probs if mix is not None else N_INSTRUMENT_PROBS
    n = int(rng.choice(np.arange(1, len(probs) + 1), p=probs))
    distinct = mix is None or mix.distinct_families
    families = [FAMILIES[i] for i in rng.choice(len(FAMILIES), size=n, replace=not distinct)]
    use_corpus = bool(scores) and rng.random() < corpus_fraction
    if use_corpus:
        score_index = int(rng.integers(len(scores)))
        note_lists = corpus_excerpt(rng, scores[score_index], families, seconds)
        source = f"corpus:{score_index}"
    else:
        note_lists = [generate_phrase(rng, f, seconds) for f in families]
        source = "phrase"
    parts = []
    for channel, family, notes in zip(MELODIC_CHANNELS, families, note_lists, strict=False):
        choices = programs_of(family)
        if programs is not None:
            choices = [p for p in choices if p in programs]
            if not choices:
                raise TaggerError(f"no allowed GM program plays the family {family}")
        parts.append(
            Part(
                program=int(rng.choice(choices)),
                channel=channel,
                notes=notes,
                volume=int(rng.integers(70, 128)),
                reverb=int(rng.choice([0, 20, 40, 70, 110])),
                chorus=int(rng.choice([0, 0, 30, 80])),
                pan=int(rng.integers(20, 108)),
            )
        )
    drums = rng.random() < drum_fraction
    if drums:
        parts.append(
            Part(0, DRUM_CHANNEL, drum_pattern(rng, seconds), volume=int(rng.integers(60, 120)))
        )
    clip = ClipSpec(index, parts, float(rng.uniform(-24.0, -1.0)), source, drums)
    if mix is not None and mix.degrade:
        clip.extra["degradation"] = draw_degradation(
            rng, mix.room_prob, mix.rt60_range, mix.gain_range, mix.codec_prob
        )
    return clip


# freepats (GUS patches, rendered by TiMidity++) programs of the used families whose samples
# share no data with the v1 training soundfonts FluidR3_GM and TimGM6mb, measured by
# tools/soundfont_samples.py: all of them except 64 and 69 (an English horn F6 sample)
# and 79 (two ocarina samples), which TimGM6mb also holds.
FREEPATS_CONFIG = Path("/etc/timidity/freepats.cfg")
FREEPATS_DISJOINT_PROGRAMS = (
    0, 1, 2, 4, 5, 6, 7, 8, 9, 13, 14, 16, 19, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34, 35, 36,
    37, 38, 40, 42, 44, 45, 48, 53, 56, 57, 58, 59, 60, 61, 65, 66, 67, 68, 70, 71, 72, 73, 74,
    75, 80, 84,
)  # fmt: skip


# ------------------------------------------------------------ the v2 splits

#: source name → (sample-disjoint group, soundfont or TiMidity++ configuration)
SOURCES = {
    "FluidR3_GM": ("fluid", "/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "MuseScore_General_Lite": ("fluid", "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
    "TimGM6mb": ("timgm", "/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "OPL-3_FM": ("opl3", "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),
    "freepats": ("freepats", str(FREEPATS_CONFIG)),
    "project_synth": ("synth", SYNTH_SOURCE),  # no samples at all (synth_voices.py)
}
#: split → (seed, mix recipe, clips per source, programs restricted to, score part)
SPLITS = {
    "train": (1, "v2_training",
              {"FluidR3_GM": 1000, "MuseScore_General_Lite": 1000, "TimGM6mb": 2000,
               "OPL-3_FM": 2000}, None, "train"),
    "val": (2, "v2_training",
            {"FluidR3_GM": 150, "MuseScore_General_Lite": 150, "TimGM6mb": 300, "OPL-3_FM": 300},
            None, "train"),
    "test": (3, "v2_training", {"freepats": 1000}, "freepats_disjoint", "test"),
    "test_dense": (4, "dense_unseen", {"freepats": 500}, "freepats_disjoint", "test"),
    # the project's own synthesiser, a fourth sample-disjoint training group (not in v2)
    "synth_train": (5, "v2_training", {"project_synth": 6000}, None, "train"),
    "synth_val": (6, "v2_training", {"project_synth": 300}, None, "train"),
}  # fmt: skip
#: splits stored as uint8 logC steps (training sets; the rest float16)
TRAINING_SPLITS = ("train", "synth_train")
#: logC step of the uint8 training features (error <= 1/64, values up to 7.97; measured
#: clips peak near 7.6)
TRAIN_FEATURE_STEP = 1.0 / 32.0
MIXES = {"v2_training": V2_TRAINING_MIX, "dense_unseen": DENSE_UNSEEN_MIX}
PROGRAM_SETS = {"freepats_disjoint": FREEPATS_DISJOINT_PROGRAMS}


def solo_clips(
    seed: int, programs: Sequence[int], seconds: float, per_program: int = 1
) -> list[ClipSpec]:
    """Single-instrument clips: a generated phrase per program, fixed mix, no drums.

    For checks on a source the model never heard, where the only question is
    whether it names the one instrument playing.
    """
    rng = np.random.default_rng(seed)
    clips = []
    for program in programs:
        family = family_of_program(program)
        if family is None:
            raise TaggerError(f"GM program {program} has no instrument family")
        for _ in range(per_program):
            notes = generate_phrase(rng, family, seconds)
            part = Part(program, 0, notes, volume=110, reverb=20)
            clips.append(ClipSpec(len(clips), [part], -6.0, "solo"))
    return clips


def clips_to_midi(clips: Sequence[ClipSpec], seconds: float, gap: float):
    """One type-1 MIDI file holding ``clips`` one after another, ``seconds + gap`` apart.

    Each clip starts by setting program, volume, pan, reverb and chorus sends on
    its channels and ends, at ``seconds``, with all-notes-off and all-sound-off
    on every channel, so no note of one clip sounds in the next.
    """
    import mido  # noqa: PLC0415 (recipe-only dependency)

    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)

    def at(t: float, order: int, msg: mido.Message) -> None:
        events.append((int(round(t * TICKS_PER_SECOND)), order, msg))

    for k, clip in enumerate(clips):
        t0 = k * (seconds + gap)
        for part in clip.parts:
            ch = part.channel
            at(t0, 0, mido.Message("control_change", channel=ch, control=121, value=0))
            at(t0, 1, mido.Message("program_change", channel=ch, program=part.program))
            for control, value in ((7, part.volume), (10, part.pan), (91, part.reverb),
                                   (93, part.chorus), (11, 127)):  # fmt: skip
                at(t0, 2, mido.Message("control_change", channel=ch, control=control, value=value))
            for note in part.notes:
                if note.start >= seconds:
                    continue
                end = min(note.start + note.duration, seconds)
                pitch = int(np.clip(note.pitch, 0, 127))
                at(t0 + note.start, 4, mido.Message(
                    "note_on", channel=ch, note=pitch, velocity=note.velocity))  # fmt: skip
                at(t0 + end, 3, mido.Message("note_off", channel=ch, note=pitch, velocity=0))
        for ch in (*MELODIC_CHANNELS, DRUM_CHANNEL):
            at(t0 + seconds, 5, mido.Message("control_change", channel=ch, control=123, value=0))
            at(t0 + seconds, 6, mido.Message("control_change", channel=ch, control=120, value=0))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    last = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    end_tick = int(round(len(clips) * (seconds + gap) * TICKS_PER_SECOND))
    track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - last)))
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(track)
    return midi


def fluidsynth_binary() -> str:
    """Path of the ``fluidsynth`` command (``TaggerError`` when it is not installed)."""
    path = shutil.which("fluidsynth")
    if path is None:
        raise TaggerError("fluidsynth is not installed (Debian: apt-get install fluidsynth)")
    return path


def render_midi_file(midi_path: Path, soundfont: Path, wav_path: Path, sr: int) -> None:
    """Render a MIDI file to a WAV with FluidSynth (reverb and chorus on).

    A TiMidity++ configuration (``.cfg``, e.g. ``/etc/timidity/freepats.cfg``) in place
    of the soundfont renders with ``timidity`` instead, so GUS-patch sets such as
    freepats, which FluidSynth cannot load, serve as a source as well.
    """
    if not Path(soundfont).is_file():
        raise TaggerError(f"soundfont not found: {soundfont}")
    if Path(soundfont).suffix == ".cfg":
        _render_with_timidity(midi_path, Path(soundfont), wav_path, sr)
        return
    cmd = [
        fluidsynth_binary(), "-n", "-i", "-q", "-g", "0.4", "-r", str(sr), "-O", "float",
        "-T", "wav", "-R", "1", "-C", "1", "-F", str(wav_path), str(soundfont), str(midi_path),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not wav_path.is_file():
        raise TaggerError(f"fluidsynth failed: {result.stderr.strip().splitlines()[-1:]}")


def _render_with_timidity(midi_path: Path, config: Path, wav_path: Path, sr: int) -> None:
    """TiMidity++ with only ``config`` loaded (``-c`` replaces the default configuration)."""
    binary = shutil.which("timidity")
    if binary is None:
        raise TaggerError("timidity is not installed (Debian: apt-get install timidity)")
    cmd = [binary, "-c", str(config), "-Ow", "-s", str(sr), "-o", str(wav_path), str(midi_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not wav_path.is_file():
        raise TaggerError(f"timidity failed: {result.stderr.strip().splitlines()[-1:]}")


def render_raw(
    clips: Sequence[ClipSpec],
    soundfont: str | Path,
    seconds: float,
    sr: int = 16000,
    render_sr: int = 32000,
    gap: float = 1.5,
    workdir: str | Path | None = None,
) -> np.ndarray:
    """``clips`` as the synthesiser plays them: mono ``[N, samples]`` at ``sr``, level unchanged."""
    if str(soundfont) == SYNTH_SOURCE:
        return np.stack([render_clip(clip, seconds, sr) for clip in clips])
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        midi_path = Path(tmp) / "clips.mid"
        wav_path = Path(tmp) / "clips.wav"
        clips_to_midi(clips, seconds, gap).save(str(midi_path))
        render_midi_file(midi_path, Path(soundfont), wav_path, render_sr)
        audio, got_sr = sf.read(str(wav_path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if got_sr != sr:
        mono = soxr.resample(mono, got_sr, sr).astype(np.float32)
    n = int(round(seconds * sr))
    stride = (seconds + gap) * sr
    out = np.zeros((len(clips), n), dtype=np.float32)
    for k in range(len(clips)):
        piece = mono[int(round(k * stride)) : int(round(k * stride)) + n]
        out[k, : len(piece)] = piece
    return out


def render_clips(
    clips: Sequence[ClipSpec],
    soundfont: str | Path,
    seconds: float,
    sr: int = 16000,
    render_sr: int = 32000,
    gap: float = 1.5,
    workdir: str | Path | None = None,
) -> np.ndarray:
    """Render ``clips`` with one soundfont; returns float32 audio ``[len(clips), samples]``.

    Each clip is peak-normalised, then scaled by its ``gain_db`` (level
    variation), or, when it carries a ``Degradation``, put through its room,
    level and codec; rendering happens at ``render_sr`` and is resampled to ``sr``.
    """
    out = render_raw(clips, soundfont, seconds, sr, render_sr, gap, workdir)
    for k, clip in enumerate(clips):
        degradation: Degradation | None = clip.extra.get("degradation")
        if degradation is not None:
            out[k] = degrade(out[k], sr, degradation)
            continue
        peak = float(np.max(np.abs(out[k]))) if out.shape[1] else 0.0
        if peak > 0:
            out[k] *= 10.0 ** (clip.gain_db / 20.0) / peak
    return out


def stem_shares(
    clips: Sequence[ClipSpec], soundfont: str | Path, seconds: float, window: float, sr: int = 16000
) -> np.ndarray:
    """How loud each labelled family is in its clip: ``[N, families]`` in dB, NaN where unlabelled.

    Why: a clip-level label says a family plays, not that it can be heard. Each
    part (drums too) is rendered alone with its own mix settings; a family's
    share is its stem's energy in the first ``window`` seconds over the sum of
    every stem's energy there, before the clip's room, level and codec.
    """
    stems, owners = [], []
    for k, clip in enumerate(clips):
        for part in clip.parts:
            stems.append(ClipSpec(len(stems), [part], 0.0, clip.source))
            owners.append((k, part.family if part.notes else None))
    energy = np.zeros(len(stems))
    for start in range(0, len(stems), 200):
        audio = render_raw(stems[start : start + 200], soundfont, seconds, sr)
        energy[start : start + len(audio)] = np.square(audio[:, : int(window * sr)]).sum(axis=1)
    totals = np.zeros(len(clips))
    for (k, _), e in zip(owners, energy, strict=True):
        totals[k] += e
    family_energy = np.full((len(clips), len(FAMILIES)), np.nan)
    for (k, family), e in zip(owners, energy, strict=True):
        if family is not None:  # a family may play in two parts (the dense mix): add them
            f = FAMILIES.index(family)
            family_energy[k, f] = np.nan_to_num(family_energy[k, f]) + e
    ratio = np.maximum(family_energy, 1e-12) / np.maximum(totals, 1e-12)[:, None]
    return np.where(np.isnan(family_energy), np.nan, 10.0 * np.log10(ratio))


def dataset_statistics(labels: np.ndarray, drums: np.ndarray | None = None) -> dict:
    """Clips per family, family co-occurrence counts and instruments-per-clip histogram."""
    y = np.asarray(labels, dtype=np.int64)
    per_clip = y.sum(axis=1)
    most = max(4, int(per_clip.max(initial=0)))
    stats = {
        "clips": int(y.shape[0]),
        "clips_per_family": {f: int(c) for f, c in zip(FAMILIES, y.sum(axis=0), strict=True)},
        "families_per_clip": {str(k): int((per_clip == k).sum()) for k in range(most + 1)},
        "cooccurrence": {
            "families": list(FAMILIES),
            "counts": (y.T @ y).astype(int).tolist(),
        },
    }
    if drums is not None:
        stats["clips_with_drums"] = int(np.asarray(drums).sum())
    return stats


def make_clips(
    seed: int,
    n_clips: int,
    seconds: float,
    scores: Sequence[Score] = (),
    corpus_fraction: float = 0.35,
    drum_fraction: float = 0.3,
    programs: Collection[int] | None = None,
    mix: MixRecipe | None = None,
) -> list[ClipSpec]:
    """``n_clips`` clips drawn from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [
        make_clip(rng, i, seconds, scores, corpus_fraction, drum_fraction, programs, mix)
        for i in range(n_clips)
    ]


def corpus_parts(n_scores: int = 60, n_test: int = 12) -> dict[str, list[Score]]:
    """The corpus scores of the training/validation splits and, apart, of the test splits."""
    scores = load_corpus_scores(n_scores) if n_scores else []
    cut = len(scores) - min(n_test, len(scores) // 2)
    return {"train": scores[:cut], "test": scores[cut:]}


def split_clips(
    name: str,
    scores_by_part: dict[str, Sequence[Score]],
    seconds: float,
    scale: float = 1.0,
    seed: int = 0,
) -> list[tuple[str, list[ClipSpec]]]:
    """The clips of split ``name`` per source, as ``tools/instrument_data.py`` renders them."""
    split_seed, mix_name, per_source, program_set, score_part = SPLITS[name]
    programs = PROGRAM_SETS.get(program_set) if program_set else None
    out = []
    for k, (source, n_full) in enumerate(per_source.items()):
        n = max(1, int(round(n_full * scale)))
        clips = make_clips(
            split_seed * 100 + k + 1000 * seed, n, seconds, scores_by_part[score_part],
            programs=programs, mix=MIXES[mix_name],
        )  # fmt: skip
        out.append((source, clips))
    return out


def render_dataset(
    clips: Sequence[ClipSpec],
    soundfont: str | Path,
    seconds: float,
    featurize: Callable[[np.ndarray], np.ndarray],
    batch: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Render ``clips`` in batches and turn each batch of audio into features."""
    feats = []
    for start in range(0, len(clips), batch):
        audio = render_clips(clips[start : start + batch], soundfont, seconds)
        feats.append(featurize(audio))
        if progress:
            progress(min(start + batch, len(clips)), len(clips))
    return np.concatenate(feats, axis=0)
