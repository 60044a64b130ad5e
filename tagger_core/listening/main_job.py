"""The main job in one call: analyse tracks, then refresh their calibrated predictions.

Why one entry: the GUI worker, ``music-tagger analyze`` and ``music-tagger run`` all
need exactly this sequence, and stitching it three times let them drift (which tracks
are refreshed, what a failed refresh does). Raw outputs are committed before the
refresh starts, so a refresh that fails is reported in the returned report, never
raised: nothing analysed is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from tagger_core.db import Library
from tagger_core.db.models import Analysis
from tagger_core.errors import ConfigError, TaggerError
from tagger_core.listening.report import (
    DEFAULT_BUNDLES,
    ENGINES,
    AnalysisProgress,
    AnalysisReport,
    ProgressFn,
)
from tagger_core.trust.auto_calibration import auto_calibrate
from tagger_core.trust.predictions import refresh_predictions
from tagger_core.trust.shift import check_shift


class _PartialRefresh:
    """Refreshes predictions of tracks analysed so far, every ``every_s`` seconds.

    So a window shows calibrated predictions as analyses are committed rather than
    only at the end; the final refresh still covers every analysed track.
    """

    def __init__(self, library: Library, every_s: float) -> None:
        self.library, self.every_s = library, every_s
        self.last = time.monotonic()
        with library.session() as s:
            self.max_id = int(s.scalar(select(func.max(Analysis.id))) or 0)

    def maybe(self) -> None:
        if time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        with self.library.session() as s:
            rows = s.execute(
                select(Analysis.id, Analysis.track_id).where(
                    Analysis.id > self.max_id, Analysis.status == "ok"
                )
            ).all()
        if not rows:
            return
        self.max_id = max(r.id for r in rows)
        try:
            refresh_predictions(self.library, sorted({r.track_id for r in rows}))
        except TaggerError:
            pass  # the final refresh reports it


def analyze_and_predict(
    library: Library,
    track_ids: Iterable[int] | None = None,
    *,
    refresh_selected: bool = False,
    partial_refresh_s: float | None = None,
    calibrate_from_tags: bool = True,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    engine: str = "local",
    **options: Any,
) -> AnalysisReport:
    """Analyse ``track_ids`` (None: every ``ok`` track), then refresh their predictions.

    ``options`` go to :func:`tagger_core.listening.engine.analyze` as they are
    (``bundles``, ``device``, ``batch_size``…), or with ``engine="ray"`` to
    :func:`tagger_core.listening.ray_engine.analyze_on_ray` (``address``…).
    Predictions are refreshed for the tracks analysed now, or for every selected
    track with ``refresh_selected`` (``run`` does, so a run stopped before its
    refresh heals next time); ``partial_refresh_s`` also refreshes during the
    analysis, that often. ``progress`` gets one last report with
    ``phase="predictions"`` before the final refresh. Then (even when nothing was
    new: tags may have changed), with ``calibrate_from_tags``, every requested bundle
    whose task the archive's tags label is calibrated from them
    (:mod:`tagger_core.trust.auto_calibration`); a failure there is reported in
    ``auto_calibration_error``, never raised. Each bundle analysed now is checked
    for shift against its calibration's reference (:mod:`tagger_core.trust.shift`).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r} (choose {' or '.join(ENGINES)})")
    if engine == "ray":  # torch (and ray): imported when a job runs
        from tagger_core.listening.ray_engine import analyze_on_ray as analyze
    else:
        from tagger_core.listening.engine import analyze

    selected = None if track_ids is None else list(track_ids)
    partial = None if partial_refresh_s is None else _PartialRefresh(library, partial_refresh_s)

    def relay(p: AnalysisProgress) -> None:
        if progress is not None:
            progress(p)
        if partial is not None:
            partial.maybe()

    report = analyze(library, selected, progress=relay, cancel=cancel, **options)
    targets = selected if refresh_selected and selected is not None else None
    targets = report.analyzed_track_ids if targets is None else targets
    if not targets:
        report.predictions_refreshed = 0
    else:
        if progress is not None:
            progress(
                AnalysisProgress(
                    done=report.tracks_done + len(report.errors),  # as the analysis counted
                    total=report.tracks_total,
                    audio_seconds=report.audio_seconds,
                    elapsed=report.seconds,
                    eta_seconds=None,
                    errors=len(report.errors),
                    phase="predictions",
                )
            )
        try:
            report.predictions_refreshed = refresh_predictions(library, list(targets))
        except TaggerError as err:
            report.predictions_error = str(err)
    if calibrate_from_tags and not report.cancelled:
        _calibrate_from_tags(library, report, options.get("bundles") or DEFAULT_BUNDLES)
    if targets:
        check_bundle_shifts(library, report)
    return report


def _calibrate_from_tags(library: Library, report: AnalysisReport, bundles: list[str]) -> None:
    """Fill ``report.auto_calibration`` for the requested bundles (see the docstring above)."""
    try:
        fits = auto_calibrate(library, list(bundles))
    except TaggerError as err:
        report.auto_calibration_error = str(err)
        return
    report.auto_calibration = {b: None if a is None else a.to_dict() for b, a in fits.items()}


def check_bundle_shifts(library: Library, report: AnalysisReport) -> None:
    """Compare each analysed bundle's library with its calibration's reference (see
    :mod:`tagger_core.trust.shift`); a check that cannot be made is None, never an error."""
    for bundle_id in report.bundle_ids:
        report.auto_calibration.setdefault(bundle_id, None)
        try:
            report.shift[bundle_id] = check_shift(library, bundle_id).to_dict()
        except TaggerError:
            report.shift[bundle_id] = None
