"""The project's own instrument synthesiser: a sample-free source for the instrument-family recipe.

Why: the Debian sample sets give only three sample-disjoint training groups,
and a model that hears a family through a handful of sample sets learns those
samples rather than the family. This source has no samples at all: every part
of every clip plays a *new* instrument, drawn at random around an archetype of
its General MIDI program (a piano, a nylon guitar, a clarinet, a marimba …)
from what makes the family recognisable — how its partials are spaced
(harmonic, stretched like a piano string, or a bar's inharmonic modes), the
shape of its spectrum (tilt, odd/even balance, formants of a body or a vowel),
how each note starts and ends (bowed, blown, plucked, struck, sustained), its
vibrato, tremolo, breath/bow/hammer noise and ensemble detuning.

Notes are rendered by additive synthesis (every partial below 0.45·sr, so no
aliasing) at 16 kHz, the bundles' rate, with numpy only. A clip's instruments
are drawn from a generator seeded by the clip's own notes, so the same
:class:`~tagger_core.training.instrument_data.ClipSpec` always sounds the same.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

#: Name by which :data:`instrument_data.SOURCES` refers to this synthesiser.
SYNTH_SOURCE = "builtin:project-synth"


@dataclass(frozen=True)
class Voice:
    """One synthetic instrument: how its partials are laid out, shaped and enveloped."""

    kind: str  # "sustained" (bowed, blown, organ) or "decaying" (plucked, struck)
    ratios: tuple[float, ...] = ()  # inharmonic mode ratios; empty = harmonic series
    stretch: float = 0.0  # string inharmonicity B: f_n = n·f0·sqrt(1 + B·n²)
    tilt_db: float = 6.0  # spectral slope, dB per octave above the fundamental
    odd_only: float = 0.0  # 0 … 1: attenuation of even harmonics (clarinet: near 1)
    formants: tuple[tuple[float, float, float], ...] = ()  # (Hz, octaves wide, dB)
    max_partials: int = 40
    attack: float = 0.01  # s
    decay: float = 1.5  # s for the fundamental to fall 60 dB ("decaying")
    high_decay: float = 2.0  # how much faster partials decay per kHz above f0
    release: float = 0.1  # s after note off
    vibrato_cents: float = 0.0
    vibrato_hz: float = 5.5
    tremolo: float = 0.0  # depth of amplitude modulation
    tremolo_hz: float = 5.0
    unison: int = 1  # detuned copies (sections, choirs, chorus)
    detune_cents: float = 0.0
    noise: float = 0.0  # level of the noise part relative to the partials
    noise_kind: str = ""  # "breath", "bow", "hammer", "pluck", "click"
    brightness_velocity: float = 0.0  # dB of tilt removed at full velocity (brass)
    pluck_position: float = 0.0  # 0 = off; else comb-filters the harmonics like a plucked string
    drive: float = 0.0  # tanh overdrive amount
    jitter_cents: float = 0.0  # slow random pitch drift of a player (0: a machine)
    shimmer_db: float = 0.0  # slow random level drift of every partial on its own
    stagger: float = 0.0  # upper partials enter later: attack × (1 + stagger·log2 n)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _formants(rng: np.random.Generator, centres, widths=(0.3, 0.8), gains=(3.0, 12.0)):
    """Resonances near ``centres`` (Hz), each moved up to ±15 %, with random widths and gains."""
    return tuple((c * _u(rng, 0.85, 1.15), _u(rng, *widths), _u(rng, *gains)) for c in centres)


# Vowel formants (F1, F2, F3 in Hz) for sung "ah", "oh", "oo", "eh", "ee".
_VOWELS = ((730, 1090, 2440), (570, 840, 2410), (300, 870, 2240), (530, 1840, 2480),
           (270, 2290, 3010))  # fmt: skip


def draw_voice(program: int, family: str, rng: np.random.Generator) -> Voice:
    """A new instrument of ``family``, around the archetype of GM ``program``."""
    maker = _FAMILY_VOICES[family]
    return maker(program, rng)


def _keyboard(program: int, rng: np.random.Generator) -> Voice:
    if program in (4, 5):  # electric piano: tine/reed, few partials, bell-like attack
        return Voice(
            "decaying", ratios=(1.0, 2.0, 3.0, _u(rng, 6.5, 7.5), _u(rng, 13.0, 15.0)),
            tilt_db=_u(rng, 6, 14), decay=_u(rng, 1.5, 4.0), high_decay=_u(rng, 4, 10),
            release=_u(rng, 0.05, 0.2), tremolo=_u(rng, 0.0, 0.35), tremolo_hz=_u(rng, 3, 6),
            noise=_u(rng, 0.0, 0.05), noise_kind="click", max_partials=5,
        )  # fmt: skip
    if program in (6, 7):  # harpsichord / clavinet: bright plucked string, short release
        return Voice(
            "decaying", tilt_db=_u(rng, 1.5, 4.0), decay=_u(rng, 1.0, 3.0),
            high_decay=_u(rng, 0.5, 2.0), release=_u(rng, 0.02, 0.08),
            pluck_position=_u(rng, 0.05, 0.2), noise=_u(rng, 0.02, 0.1), noise_kind="pluck",
            formants=_formants(rng, (_u(rng, 400, 1500),), gains=(0.0, 8.0)),
        )  # fmt: skip
    return Voice(  # piano: struck stretched strings, hammer thump, damper on release
        "decaying", stretch=_u(rng, 1e-4, 8e-4), tilt_db=_u(rng, 5, 10), decay=_u(rng, 2.0, 8.0),
        high_decay=_u(rng, 1.0, 4.0), release=_u(rng, 0.08, 0.3), noise=_u(rng, 0.03, 0.15),
        noise_kind="hammer", unison=int(rng.integers(1, 4)), detune_cents=_u(rng, 0.5, 3.0),
        pluck_position=_u(rng, 0.1, 0.15), brightness_velocity=_u(rng, 2, 6),
    )  # fmt: skip


def _mallet(program: int, rng: np.random.Generator) -> Voice:
    modes = {  # bar and bell mode ratios (tuned bars, glockenspiel, tubular bells)
        "marimba": (1.0, _u(rng, 3.9, 4.0), _u(rng, 9.2, 10.0)),
        "vibraphone": (1.0, _u(rng, 3.95, 4.05), _u(rng, 9.8, 10.2)),
        "xylophone": (1.0, _u(rng, 2.95, 3.05), _u(rng, 5.9, 6.2), 9.0),
        "glockenspiel": (1.0, 2.76, 5.40, 8.93),
        "bells": (0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 3.0, 4.0),
        "celesta": (1.0, 2.0, _u(rng, 2.9, 3.1), 4.0),
    }
    name = {8: "celesta", 9: "glockenspiel", 10: "bells", 11: "vibraphone", 12: "marimba",
            13: "xylophone", 14: "bells", 108: "marimba"}.get(program, "marimba")  # fmt: skip
    long = name in ("vibraphone", "bells", "glockenspiel")
    return Voice(
        "decaying", ratios=modes[name], tilt_db=_u(rng, 3, 9),
        decay=_u(rng, 2.0, 6.0) if long else _u(rng, 0.3, 1.2), high_decay=_u(rng, 2, 8),
        release=_u(rng, 0.5, 2.0) if long else _u(rng, 0.1, 0.4), noise=_u(rng, 0.02, 0.12),
        noise_kind="click", tremolo=_u(rng, 0.1, 0.5) if name == "vibraphone" else 0.0,
        tremolo_hz=_u(rng, 3, 7), max_partials=len(modes[name]),
    )  # fmt: skip


def _organ(program: int, rng: np.random.Generator) -> Voice:
    drawbar = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)  # sub, fundamental, fifths …
    keep = [r for r in drawbar if rng.random() < 0.65] or [1.0]
    church = program == 19
    return Voice(
        "sustained", ratios=tuple(sorted(set(keep) | {1.0})), tilt_db=_u(rng, 0, 6),
        attack=_u(rng, 0.005, 0.03) if not church else _u(rng, 0.05, 0.15),
        release=_u(rng, 0.02, 0.1) if not church else _u(rng, 0.2, 0.6),
        tremolo=_u(rng, 0.0, 0.25), tremolo_hz=_u(rng, 5, 7), vibrato_cents=_u(rng, 0, 8),
        vibrato_hz=_u(rng, 5.5, 7), noise=_u(rng, 0.0, 0.06), noise_kind="click",
        unison=int(rng.integers(1, 3)), detune_cents=_u(rng, 1, 5), max_partials=len(drawbar),
    )  # fmt: skip


def _guitar(program: int, rng: np.random.Generator) -> Voice:
    electric = program >= 26
    overdrive = program in (29, 30)
    return Voice(
        "decaying", stretch=_u(rng, 0, 1e-4), tilt_db=_u(rng, 4, 9) if not electric else
        _u(rng, 3, 7), decay=_u(rng, 1.5, 5.0), high_decay=_u(rng, 1.5, 5.0),
        release=_u(rng, 0.05, 0.3), pluck_position=_u(rng, 0.08, 0.3),
        formants=_formants(rng, (100, 220, 420) if not electric else (_u(rng, 1500, 3500),),
                           gains=(2.0, 10.0)),
        noise=_u(rng, 0.02, 0.1), noise_kind="pluck", vibrato_cents=_u(rng, 0, 10),
        drive=_u(rng, 3.0, 12.0) if overdrive else 0.0, unison=2 if program == 31 else 1,
    )  # fmt: skip


def _bass(program: int, rng: np.random.Generator) -> Voice:
    if program >= 38:  # synth bass: saw/square through a low-pass, short decay to a sustain
        return Voice(
            "sustained", tilt_db=_u(rng, 6, 14), odd_only=_u(rng, 0, 1),
            attack=_u(rng, 0.003, 0.02), release=_u(rng, 0.03, 0.15),
            unison=int(rng.integers(1, 3)), detune_cents=_u(rng, 3, 12),
            formants=_formants(rng, (_u(rng, 150, 800),), gains=(0.0, 12.0)),
            drive=_u(rng, 0, 2),
        )  # fmt: skip
    return Voice(  # finger, pick, fretless, slap: a heavy plucked string
        "decaying", stretch=_u(rng, 0, 2e-4), tilt_db=_u(rng, 7, 14), decay=_u(rng, 2.0, 6.0),
        high_decay=_u(rng, 2, 6), release=_u(rng, 0.04, 0.2),
        pluck_position=_u(rng, 0.1, 0.3), noise=_u(rng, 0.02, 0.12) * (3 if program in (36, 37)
        else 1), noise_kind="pluck", formants=_formants(rng, (_u(rng, 80, 250),)),
    )  # fmt: skip


def _string(program: int, rng: np.random.Generator) -> Voice:
    if program in (45, 46):  # pizzicato / harp: plucked
        return Voice(
            "decaying", tilt_db=_u(rng, 6, 12), decay=_u(rng, 0.4, 2.5), high_decay=_u(rng, 2, 6),
            release=_u(rng, 0.1, 0.4), pluck_position=_u(rng, 0.15, 0.4),
            formants=_formants(rng, (280, 450, 1000, 2500)), unison=3 if program == 45 else 1,
            detune_cents=_u(rng, 3, 8),
        )  # fmt: skip
    section = program in (48, 49)
    low = program in (42, 43)
    return Voice(  # bowed: saw-like, body resonances, vibrato, slow attack, bow noise
        "sustained", tilt_db=_u(rng, 3, 7), attack=_u(rng, 0.05, 0.25) * (1.5 if section else 1),
        release=_u(rng, 0.1, 0.4), vibrato_cents=_u(rng, 8, 25), vibrato_hz=_u(rng, 4.5, 6.5),
        formants=_formants(rng, (200, 280, 450, 1000, 2500, 3200) if not low else
                           (100, 200, 350, 700, 1500)),
        noise=_u(rng, 0.02, 0.08), noise_kind="bow", unison=int(rng.integers(4, 8)) if section
        else 1, detune_cents=_u(rng, 5, 15), jitter_cents=_u(rng, 3, 10),
        shimmer_db=_u(rng, 1.5, 4.0), stagger=_u(rng, 0.3, 1.0),
    )  # fmt: skip


def _vocal(program: int, rng: np.random.Generator) -> Voice:
    vowel = _VOWELS[int(rng.integers(len(_VOWELS)))]
    return Voice(  # glottal pulses through the formants of a vowel
        "sustained", tilt_db=_u(rng, 6, 10), formants=_formants(rng, vowel, (0.15, 0.35),
        (12.0, 24.0)), attack=_u(rng, 0.05, 0.2), release=_u(rng, 0.1, 0.3),
        vibrato_cents=_u(rng, 15, 50), vibrato_hz=_u(rng, 4.5, 6.0),
        noise=_u(rng, 0.05, 0.2), noise_kind="breath", jitter_cents=_u(rng, 5, 12),
        shimmer_db=_u(rng, 2.0, 4.0), stagger=_u(rng, 0.2, 0.5),
        unison=int(rng.integers(3, 9)) if program == 52 else int(rng.integers(1, 3)),
        detune_cents=_u(rng, 5, 20),
    )  # fmt: skip


def _brass(program: int, rng: np.random.Generator) -> Voice:
    low = program in (57, 58)  # trombone, tuba
    return Voice(  # lip-buzzed: spectrum brightens with loudness, bell formant, quick attack
        "sustained", tilt_db=_u(rng, 6, 12), brightness_velocity=_u(rng, 4, 10),
        formants=_formants(rng, (_u(rng, 500, 800) if low else _u(rng, 1000, 1500),
                                 _u(rng, 2000, 3000)), gains=(3.0, 10.0)),
        attack=_u(rng, 0.02, 0.08), release=_u(rng, 0.05, 0.2), vibrato_cents=_u(rng, 0, 15),
        noise=_u(rng, 0.0, 0.04), noise_kind="breath", jitter_cents=_u(rng, 2, 6),
        shimmer_db=_u(rng, 1.0, 2.5), stagger=_u(rng, 0.5, 2.0),
        unison=int(rng.integers(3, 6)) if program in (61, 62, 63) else 1,
        detune_cents=_u(rng, 4, 12), drive=_u(rng, 0, 1.5) if program >= 62 else 0.0,
    )  # fmt: skip


def _reed(program: int, rng: np.random.Generator) -> Voice:
    clarinet = program == 71
    free_reed = program in (22, 109, 111)  # harmonica, bagpipe, shanai: buzzy, beating
    return Voice(  # reed: clarinet's odd harmonics, double reeds' formants, sax's brightness
        "sustained", tilt_db=_u(rng, 3, 8), odd_only=_u(rng, 0.6, 0.95) if clarinet else
        _u(rng, 0, 0.3), formants=_formants(rng, (_u(rng, 400, 1400), _u(rng, 1800, 3200))),
        attack=_u(rng, 0.02, 0.08), release=_u(rng, 0.04, 0.15),
        vibrato_cents=_u(rng, 0, 20), vibrato_hz=_u(rng, 4.5, 6.0),
        noise=_u(rng, 0.02, 0.1), noise_kind="breath", unison=2 if free_reed else 1,
        detune_cents=_u(rng, 4, 12), jitter_cents=_u(rng, 2, 6), shimmer_db=_u(rng, 1.0, 3.0),
        stagger=_u(rng, 0.2, 0.8),
    )  # fmt: skip


def _flute(program: int, rng: np.random.Generator) -> Voice:
    return Voice(  # air jet: nearly sinusoidal, breathy, chiff at the start
        "sustained", tilt_db=_u(rng, 12, 22), odd_only=_u(rng, 0, 0.5),
        attack=_u(rng, 0.03, 0.1), release=_u(rng, 0.03, 0.12), vibrato_cents=_u(rng, 5, 25),
        vibrato_hz=_u(rng, 4.5, 6.0), tremolo=_u(rng, 0, 0.15),
        noise=_u(rng, 0.05, 0.25), noise_kind="breath", max_partials=8,
        jitter_cents=_u(rng, 2, 6), shimmer_db=_u(rng, 1.0, 3.0),
    )  # fmt: skip


def _synth_lead(program: int, rng: np.random.Generator) -> Voice:
    square = program in (80, 84)
    return Voice(  # oscillators through a resonant low-pass: saw, square, detuned stacks
        "sustained", tilt_db=_u(rng, 5, 8), odd_only=_u(rng, 0.8, 1.0) if square else 0.0,
        formants=_formants(rng, (_u(rng, 600, 4000),), (0.1, 0.4), (3.0, 14.0)),
        attack=_u(rng, 0.002, 0.03), release=_u(rng, 0.02, 0.2),
        vibrato_cents=_u(rng, 0, 20), vibrato_hz=_u(rng, 4, 7),
        unison=int(rng.integers(1, 4)), detune_cents=_u(rng, 5, 25), drive=_u(rng, 0, 3),
    )  # fmt: skip


_FAMILY_VOICES = {
    "keyboard": _keyboard, "mallet": _mallet, "organ": _organ, "guitar": _guitar,
    "bass": _bass, "string": _string, "vocal": _vocal, "brass": _brass, "reed": _reed,
    "flute": _flute, "synth_lead": _synth_lead,
}  # fmt: skip


# ------------------------------------------------------------------ rendering


def _partials(voice: Voice, f0: float, sr: int, velocity: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and linear amplitudes of a note's partials below 0.45·sr."""
    if voice.ratios:
        n = np.arange(1, len(voice.ratios) + 1, dtype=np.float64)
        freqs = f0 * np.asarray(voice.ratios)
    else:
        n = np.arange(1, voice.max_partials + 1, dtype=np.float64)
        freqs = f0 * n * np.sqrt(1.0 + voice.stretch * n**2)
    keep = freqs < 0.45 * sr
    n, freqs = n[keep], freqs[keep]
    tilt = voice.tilt_db - voice.brightness_velocity * velocity
    level_db = -tilt * np.log2(np.maximum(freqs / f0, 0.5))
    if not voice.ratios:
        level_db -= 20.0 * voice.odd_only * (n % 2 == 0)
        if voice.pluck_position > 0:  # a string plucked at p has no harmonics with nodes at p
            level_db += 20.0 * np.log10(np.abs(np.sin(np.pi * n * voice.pluck_position)) + 0.05)
    octaves = np.log2(np.maximum(freqs, 1.0))
    for hz, width, gain in voice.formants:
        level_db += gain * np.exp(-0.5 * ((octaves - np.log2(hz)) / (width / 2.0)) ** 2)
    return freqs, 10.0 ** (level_db / 20.0)


def _envelopes(voice: Voice, freqs: np.ndarray, f0: float, t: np.ndarray, dur: float) -> np.ndarray:
    """Amplitude ``[partials, samples]``: attack, then sustain or decay, then release."""
    order = np.log2(np.maximum(freqs / f0, 1.0))[:, None]
    attack = np.minimum(t[None, :] / (max(voice.attack, 1e-3) * (1 + voice.stagger * order)), 1.0)
    off = np.maximum(t - dur, 0.0)
    release = np.exp(-6.9 * off / max(voice.release, 1e-3))
    if voice.kind == "sustained":
        return attack * release
    rate = 6.9 / voice.decay * (1.0 + voice.high_decay * np.maximum(freqs - f0, 0.0) / 1000.0)
    return attack * np.exp(-rate[:, None] * np.minimum(t, dur)[None, :]) * release


def _drift(rng: np.random.Generator, rows: int, n: int, sr: int, hz: float = 4.0) -> np.ndarray:
    """``[rows, n]`` slow random curves of unit spread: noise at ``2·hz`` points a second,
    linearly interpolated."""
    points = max(2, int(n / sr * 2 * hz) + 2)
    coarse = rng.standard_normal((rows, points))
    grid = np.linspace(0, points - 1, n)
    left = np.floor(grid).astype(int).clip(0, points - 2)
    frac = grid - left
    return coarse[:, left] * (1 - frac) + coarse[:, left + 1] * frac


def _noise(kind: str, t: np.ndarray, f0: float, sr: int, rng: np.random.Generator, dur: float):
    """The note's noise part: breath/bow hiss while it sounds, hammer/pluck/click at the onset."""
    white = rng.standard_normal(len(t))
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(len(t), 1.0 / sr)
    if kind in ("breath", "bow"):
        centre, width = (f0 * 2.0, 1.5) if kind == "bow" else (_u(rng, 1500, 4000), 1.2)
        envelope = np.minimum(t / 0.05, 1.0) * (t < dur + 0.05)
    else:
        centre = {"hammer": 300.0, "pluck": 2500.0, "click": 3000.0}[kind]
        width = 2.0
        envelope = np.exp(-t / (0.03 if kind == "hammer" else 0.01))
    shape = np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / centre) / (width / 2.0)) ** 2)
    band = np.fft.irfft(spectrum * shape, n=len(t))
    return band / (np.std(band) + 1e-9) * envelope


def render_note(
    voice: Voice, pitch: int, velocity: int, duration: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """One note of ``voice`` (MIDI ``pitch``, ``velocity``) with its release, as float64 audio."""
    vel = velocity / 127.0
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    tail = voice.release if voice.kind == "sustained" else min(voice.release, voice.decay)
    t = np.arange(int((duration + tail) * sr) + 1) / sr
    out = np.zeros(len(t))
    for copy in range(voice.unison):
        spread = 2 * copy / (voice.unison - 1) - 1 if voice.unison > 1 else 0.0
        cents = voice.detune_cents * spread
        f = f0 * 2.0 ** (cents / 1200.0)
        freqs, amps = _partials(voice, f, sr, vel)
        if not len(freqs):
            continue
        bend = np.ones(len(t))
        if voice.vibrato_cents:
            ramp = np.minimum(t / 0.3, 1.0)  # vibrato grows in after the attack
            phase0 = rng.uniform(0, 2 * np.pi)
            bend = 2.0 ** (voice.vibrato_cents / 1200 * ramp
                           * np.sin(2 * np.pi * voice.vibrato_hz * t + phase0))  # fmt: skip
        if voice.jitter_cents:
            bend = bend * 2.0 ** (voice.jitter_cents / 1200 * _drift(rng, 1, len(t), sr)[0])
        phase = 2 * np.pi * np.cumsum(bend) / sr
        start = rng.uniform(0, 2 * np.pi, size=(len(freqs), 1))
        env = _envelopes(voice, freqs, f, t, duration)
        if voice.shimmer_db:
            env = env * 10.0 ** (voice.shimmer_db / 20 * _drift(rng, len(freqs), len(t), sr))
        out += np.sum(amps[:, None] * env * np.sin(freqs[:, None] * phase[None, :] + start), axis=0)
    out /= max(voice.unison, 1) ** 0.5
    if voice.tremolo:
        out *= 1.0 - voice.tremolo * 0.5 * (1 + np.sin(2 * np.pi * voice.tremolo_hz * t))
    if voice.noise and voice.noise_kind:
        noise = _noise(voice.noise_kind, t, f0, sr, rng, duration)
        out += voice.noise * np.sqrt(np.mean(out**2) + 1e-12) * 3.0 * noise
    if voice.drive:
        out = np.tanh(voice.drive * out / (np.max(np.abs(out)) + 1e-9))
    return out * vel**1.5


def _drum(pitch: int, velocity: int, sr: int, rng: np.random.Generator, kit: dict) -> np.ndarray:
    """A synthetic kit piece: kick (36), snare (38), hats (42/46), crash (49), ride (51)."""
    length = {36: 0.5, 38: 0.35, 42: 0.1, 46: 0.5, 49: 1.5, 51: 0.8}.get(pitch, 0.3)
    t = np.arange(int(length * sr)) / sr
    noise = rng.standard_normal(len(t))
    if pitch == 36:
        sweep = kit["kick_hz"] * (1 + 2.5 * np.exp(-t / 0.03))
        out = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / kit["kick_decay"])
    elif pitch == 38:
        tone = np.sin(2 * np.pi * kit["snare_hz"] * t) * np.exp(-t / 0.05)
        out = 0.5 * tone + noise * np.exp(-t / kit["snare_decay"])
    else:
        spectrum = np.fft.rfft(noise)
        f = np.fft.rfftfreq(len(t), 1.0 / sr)
        hiss = np.fft.irfft(spectrum * (f > kit["hat_hz"]), n=len(t))
        decay = {42: 0.03, 46: 0.2, 49: 0.6, 51: 0.35}.get(pitch, 0.1)
        out = hiss / (np.std(hiss) + 1e-9) * 0.4 * np.exp(-t / decay)
    return out * (velocity / 127.0) ** 1.5


def clip_seed(clip) -> int:
    """A seed drawn from the clip's own content, so a clip sounds the same whenever rendered."""
    key = [(p.program, p.channel, p.volume, [(n.start, n.pitch, n.velocity) for n in p.notes[:8]])
           for p in clip.parts]  # fmt: skip
    return zlib.crc32(repr((clip.index, clip.gain_db, key)).encode())


def render_clip(clip, seconds: float, sr: int = 16000) -> np.ndarray:
    """A clip played by new synthetic instruments (one per part) and, where it has one, a kit."""
    from tagger_core.training.instrument_data import DRUM_CHANNEL, family_of_program

    rng = np.random.default_rng(clip_seed(clip))
    n = int(round(seconds * sr))
    out = np.zeros(n + sr * 3)
    kit = {"kick_hz": _u(rng, 45, 70), "kick_decay": _u(rng, 0.08, 0.3),
           "snare_hz": _u(rng, 150, 250), "snare_decay": _u(rng, 0.06, 0.2),
           "hat_hz": _u(rng, 5000, 7000)}  # fmt: skip
    for part in clip.parts:
        gain = (part.volume / 127.0) ** 2
        voice: Voice | None = None
        if part.channel != DRUM_CHANNEL:
            family = family_of_program(part.program)
            if family is None:
                continue
            voice = draw_voice(part.program, family, rng)
            if part.chorus > 40 and voice.unison == 1:
                voice = replace(voice, unison=2, detune_cents=_u(rng, 3, 10))
            peak = np.max(np.abs(render_note(voice, 60, 100, 0.5, sr, rng))) + 1e-9
            gain *= 0.3 / peak  # every instrument at a comparable loudness before the mix
        for note in part.notes:
            start = int(round(note.start * sr))
            if start >= n:
                continue
            if voice is None:
                audio = _drum(note.pitch, note.velocity, sr, rng, kit)
            else:
                audio = render_note(voice, note.pitch, note.velocity, note.duration, sr, rng)
            audio = audio[: len(out) - start]
            out[start : start + len(audio)] += gain * audio
    return out[:n].astype(np.float32)
