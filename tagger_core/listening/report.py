"""What an analysis reports: its options' defaults, progress, and the final report.

Why apart from the engine: the CLI's argument defaults, the report printer and the
GUI read these without importing torch, which the engine needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tagger_core.errors import ConfigError

DEFAULT_BUNDLES: tuple[str, ...] = ("genre", "instruments", "instrument-family")
#: ``fast``: one distilled student per musicnn ensemble (docs/models/fast-profile.md) and
#: the instrument-family ensemble, which is already cheap; for a first pass over a big archive
PROFILES: dict[str, tuple[str, ...]] = {
    "default": DEFAULT_BUNDLES,
    "fast": ("genre-fast", "instruments-fast", "instrument-family"),
}


def profile_bundles(profile: str | None, models: str | None, flag: str = "--models") -> list[str]:
    """Bundle ids from ``--profile`` or the bundles option ``flag`` (neither: the default)."""
    if profile and models:
        raise ConfigError(f"give --profile or {flag}, not both")
    if models is not None:
        bundles = [m.strip() for m in models.split(",") if m.strip()]
        if not bundles:
            raise ConfigError(f"{flag} names no model bundle")
        return bundles
    if profile and profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    return list(PROFILES[profile or "default"])


DEFAULT_BATCH = 16
DEFAULT_MAX_PATCHES = 32
POOLS = ("thread", "process")
#: ``local``: this machine (the default); ``ray``: a Ray cluster (the ``cluster`` extra)
ENGINES = ("local", "ray")


@dataclass
class AnalysisProgress:
    """Where an analysis stands (``eta_seconds`` is None until it can be estimated)."""

    done: int
    total: int
    audio_seconds: float
    elapsed: float
    eta_seconds: float | None
    errors: int
    path: str = ""
    #: ``"analysis"`` while models run, ``"predictions"`` while confidences are recomputed
    phase: str = "analysis"


@dataclass
class AnalysisReport:
    """What an analysis did, with where the time went.

    ``decode_s`` and ``frontend_s`` add up the time spent in decode workers (they
    overlap with each other and with the models); ``model_s`` is time in
    forward passes; ``load_s`` loading (and optimising) the members;
    ``seconds`` is wall-clock time, everything included. The main job
    (:func:`tagger_core.listening.analyze_and_predict`) adds how many tracks' calibrated
    predictions it refreshed (``predictions_refreshed``; None when that failed, with
    the one-line reason in ``predictions_error``), what calibrating from the
    archive's tags did (``auto_calibration``, or ``auto_calibration_error``) and each
    bundle's shift check; ``to_dict`` gives them per bundle as
    ``per_bundle[b] = {"auto_calibration", "shift"}``.
    """

    bundles: list[str] = field(default_factory=list)
    device: str = "cpu"
    threads: int = 1
    workers: int = 1
    pool: str = "thread"
    tracks_total: int = 0
    tracks_done: int = 0
    tracks_skipped: int = 0
    tracks_sampled: int = 0
    errors: list[str] = field(default_factory=list)
    audio_seconds: float = 0.0
    patches: int = 0
    seconds: float = 0.0
    decode_s: float = 0.0
    frontend_s: float = 0.0
    model_s: float = 0.0
    load_s: float = 0.0
    mixed_precision: list[str] = field(default_factory=list)
    optimized: list[str] = field(default_factory=list)
    #: ``{bundle id: {member: form}}``, the form each member ran in (stored per analysis too)
    forms: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ``{bundle id: {member: runtime}}``: ``onnxruntime``, ``torchscript`` or ``torch``
    runtimes: dict[str, dict[str, str]] = field(default_factory=dict)
    cancelled: bool = False
    analyzed_track_ids: list[int] = field(default_factory=list)
    predictions_refreshed: int | None = None
    predictions_error: str = ""
    #: per bundle: the shift check (``ShiftResult.to_dict()``) or None when none was made
    shift: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: per analysed bundle, the calibration fitted from the archive's tags
    #: (:meth:`tagger_core.trust.auto_calibration.AutoCalibration.to_dict`), None when none was
    auto_calibration: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    auto_calibration_error: str = ""

    def shift_warnings(self) -> list[str]:
        """The warning sentence of each bundle whose data shifted."""
        return [s["warning"] for s in self.shift.values() if s and s.get("warning")]

    def auto_calibration_lines(self) -> list[str]:
        """One summary line per bundle calibrated from tags, then the train-heads hints."""
        fits = [a for a in self.auto_calibration.values() if a is not None]
        lines = [str(a["summary"]) for a in fits]
        lines += [f"Enough tags to train heads: {a['train_hint']}" for a in fits if a["train_hint"]]
        return lines

    @property
    def bundle_ids(self) -> list[str]:
        """The bundles' ids (``bundles`` holds ``id@version``)."""
        return [b.split("@", 1)[0] for b in self.bundles]

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio analysed per second of wall-clock time."""
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.pop("analyzed_track_ids")
        shift, auto = data.pop("shift"), data.pop("auto_calibration")
        bundles = dict.fromkeys([*self.bundle_ids, *auto, *shift])
        data["per_bundle"] = {
            b: {"auto_calibration": auto.get(b), "shift": shift.get(b)} for b in bundles
        }
        data["realtime_factor"] = round(self.realtime_factor, 2)
        data["audio_hours"] = round(self.audio_seconds / 3600, 3)
        return data


def progress_of(
    report: AnalysisReport, total: int, total_audio: float, elapsed: float, path: str = ""
) -> AnalysisProgress:
    """Where a run stands, with an ETA from the audio done so far (or the tracks)."""
    done = report.tracks_done + len(report.errors)
    eta: float | None = None
    if done and elapsed > 0:
        if total_audio > 0 and report.audio_seconds > 0:
            eta = max(0.0, total_audio - report.audio_seconds) * elapsed / report.audio_seconds
        else:
            eta = (total - done) * elapsed / done
    return AnalysisProgress(
        done=done,
        total=total,
        audio_seconds=report.audio_seconds,
        elapsed=elapsed,
        eta_seconds=eta,
        errors=len(report.errors),
        path=path,
    )


ProgressFn = Callable[[AnalysisProgress], None]
