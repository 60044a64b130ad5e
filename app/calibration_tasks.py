"""The calibration panel's work, run in a child process (see ``app.process_job``).

These functions call the calibration core (``tagger_core.trust.archive_calibration``,
``tagger_core.trust.predictions``), which loads model bundles and therefore torch;
running them in a child keeps the UI process light and responsive. Each
takes the database path and returns plain, picklable values.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _arrays(session: Any, bundle_id: str, calibration: Any) -> dict[str, Any]:
    """Probabilities, spread and tag labels of every analysed track under ``calibration``.

    The panel counts flags on these arrays while the librarian moves the
    thresholds, so they are computed once here, exactly as predictions are.
    """
    from tagger_core.trust.predictions import (
        calibrated,
        existing_label_matrix,
        load_label_outputs,
        shipped_calibration,
    )

    probs, spread, existing = [], [], []
    has_calibration = calibration is not None
    for group in load_label_outputs(session, bundle_id):
        if len(group.track_ids) == 0:
            continue
        # No calibration of the librarian's: the bundle's own, as the predictions use.
        current = calibration or shipped_calibration(bundle_id, group.labels)
        has_calibration = has_calibration or current is not None
        p, s = calibrated(current, group.labels, group.logits)
        e = existing_label_matrix(session, group.task, group.labels, group.track_ids)
        width = max(p.shape[1], 1)
        probs.append(p.astype(np.float32))
        spread.append(s.astype(np.float32))
        existing.append(e if e is not None else np.zeros((p.shape[0], width), dtype=bool))
    if not probs:
        return {"probs": None, "spread": None, "existing": None, "calibrated": has_calibration}
    width = max(p.shape[1] for p in probs)

    def pad(blocks: list[np.ndarray], fill: Any) -> np.ndarray:
        return np.concatenate(
            [np.pad(b, ((0, 0), (0, width - b.shape[1])), constant_values=fill) for b in blocks]
        )

    return {
        "probs": pad(probs, 0.0),
        "spread": pad(spread, 0.0),
        "existing": pad(existing, False),
        "calibrated": has_calibration,
    }


def _shift(library: Any, bundle_id: str) -> dict[str, Any]:
    """The library's shift check against the data of the bundle's active calibration.

    A permutation test over up to a thousand tracks a side: seconds, so it runs here.
    """
    from tagger_core.errors import TaggerError
    from tagger_core.trust.shift import check_shift

    try:
        return check_shift(library, bundle_id).to_dict()
    except TaggerError as err:  # e.g. stored analyses of differing widths: say so, go on
        return {"bundle": bundle_id, "statistic": None, "p_value": None, "shifted": None,
                "reason": str(err), "warning": None}  # fmt: skip


def _calibration_rows(session: Any, bundle_id: str) -> list[dict[str, Any]]:
    from tagger_core.trust.archive_calibration import list_calibrations

    return [
        {
            "id": c.id,
            "method": c.method,
            "fit": c.fit_criterion,
            "active": bool(c.active),
            "created": c.created_at.strftime("%Y-%m-%d %H:%M") if c.created_at else "",
            "tracks": len(c.fitted_on or []),
            "before": (c.metrics_before or {}).get("pooled", {}),
            "after": (c.metrics_after or {}).get("pooled", {}),
        }
        for c in reversed(list_calibrations(session, bundle_id))
    ]


def panel_data(
    db_path: str, bundle_id: str, use_tags: bool, report: Any, cancel: Any
) -> dict[str, Any]:
    """Calibration set counts, stored calibrations, policy, and arrays for live counts."""
    from tagger_core.db import open_library
    from tagger_core.trust.archive_calibration import build_calibration_set
    from tagger_core.trust.predictions import active_calibration, load_policy

    library = open_library(db_path)
    try:
        with library.session() as s:
            report(0, 4, "calibration set")
            cal_set = build_calibration_set(s, bundle_id, use_tags)
            report(1, 4, "calibrations")
            active = active_calibration(s, bundle_id, cal_set.version)
            out: dict[str, Any] = {
                "bundle_id": bundle_id,
                "version": cal_set.version,
                "labels": list(cal_set.labels),
                "counts": cal_set.counts(),
                "from_review": cal_set.from_review,
                "from_tags": cal_set.from_tags,
                "calibrations": _calibration_rows(s, bundle_id),
                "active_id": active.id if active is not None else None,
                "policy": load_policy(s).to_dict(),
            }
            report(2, 4, "outputs")
            out.update(_arrays(s, bundle_id, active))
        report(3, 4, "shift check")
        out["shift"] = _shift(library, bundle_id)
        report(4, 4, "")
        return out
    finally:
        library.close()


def fit(
    db_path: str,
    bundle_id: str,
    method: str,
    criterion: str,
    folds: int,
    use_tags: bool,
    report: Any,
    cancel: Any,
) -> dict[str, Any]:
    """Fit and store (inactive) a calibration; figures, metrics and arrays for the panel."""
    from tagger_core.db import open_library
    from tagger_core.db.models import Calibration
    from tagger_core.trust.archive_calibration import fit_calibration
    from tagger_core.trust.plots import (
        render_reliability_comparison,
        render_temperature_curve,
    )
    from tagger_core.trust.uncertainty import caption

    library = open_library(db_path)
    try:
        report(0, 3, "fitting")
        result = fit_calibration(
            library, bundle_id, method, criterion, folds=folds, use_tags=use_tags, activate=False
        )
        report(1, 3, "figures")
        intervals = result.intervals.to_dict()
        comparison = render_reliability_comparison(
            [result.diagram_before, result.diagram_after],
            (
                caption("Before calibration (held out)", intervals["before"]),
                caption("After calibration (held out)", intervals["after"]),
            ),
        )
        chosen = None
        if method == "temperature":
            with library.session() as s:
                row = s.get(Calibration, result.calibration_id)
                scaler = (row.params or {}).get("scaler", {}) if row is not None else {}
            t = scaler.get("temperature")
            chosen = float(t[0] if isinstance(t, list) else t) if t is not None else None
        curve = render_temperature_curve(result.curve, chosen)
        report(2, 3, "predictions")
        with library.session() as s:
            row = s.get(Calibration, result.calibration_id)
            arrays = _arrays(s, bundle_id, row)
            calibrations = _calibration_rows(s, bundle_id)
        report(3, 3, "")
        per_class = [
            {"label": c.name, "before": c.before.to_dict(), "after": c.after.to_dict()}
            for c in result.report.per_class
        ]
        return {
            "calibration_id": result.calibration_id,
            "improved": result.report.improved,
            "worse": result.report.worse(),
            "labels": list(result.labels),
            "skipped": dict(result.skipped),
            "before": result.report.before.to_dict(),
            "after": result.report.after.to_dict(),
            "ci95": intervals,
            "per_class": per_class,
            "reliability_png": comparison,
            "curve_png": curve,
            "calibrations": calibrations,
            **arrays,
        }
    finally:
        library.close()


def apply(
    db_path: str,
    bundle_id: str,
    calibration_id: int | None,
    policy: dict[str, Any],
    report: Any,
    cancel: Any,
) -> dict[str, Any]:
    """Save the review policy, make the calibration active, recompute predictions and flags."""
    from sqlalchemy import func, select

    from tagger_core.db import open_library
    from tagger_core.db.models import Prediction
    from tagger_core.trust.archive_calibration import activate_calibration
    from tagger_core.trust.policy import ReviewPolicy
    from tagger_core.trust.predictions import refresh_predictions, save_policy

    library = open_library(db_path)
    try:
        report(0, 2, "policy")
        new_policy = ReviewPolicy.from_dict(policy)
        library.write(lambda s: save_policy(s, new_policy), "saving the review policy")
        report(1, 2, "predictions")
        if calibration_id is not None:
            activate_calibration(library, calibration_id, force=True)  # the panel asked
        refresh_predictions(library)
        with library.session() as s:
            flagged = s.scalar(
                select(func.count()).where(
                    Prediction.bundle_id == bundle_id, Prediction.flagged.is_(True)
                )
            )
        report(2, 2, "")
        return {"flagged": int(flagged or 0), "calibration_id": calibration_id}
    finally:
        library.close()


def _task_counts(session: Any) -> dict[str, dict[str, Any]]:
    from dataclasses import asdict

    from tagger_core.trust.review import review_counts

    return {task: asdict(c) for task, c in review_counts(session)["tasks"].items()}


def flag_inputs(db_path: str, report: Any, cancel: Any) -> dict[str, Any]:
    """Arrays for live flag counts of each task's shown bundle, and today's counts.

    The review panel's "Flag policy…" dialog recounts on these while the
    librarian changes the policy, exactly as applying it would flag.
    """
    from tagger_core.db import open_library
    from tagger_core.labels.bundles import BundleError, load_bundle
    from tagger_core.labels.tasks import task_bundles
    from tagger_core.trust.predictions import active_calibration, load_policy

    library = open_library(db_path)
    try:
        with library.session() as s:
            shown = task_bundles(s)
            tasks: dict[str, Any] = {}
            for done, (task, bundle_id) in enumerate(
                (("genre", shown.genre), ("instruments", shown.instruments))
            ):
                report(done, 2, bundle_id)
                try:
                    version = load_bundle(bundle_id).version
                except BundleError:
                    continue
                arrays = _arrays(s, bundle_id, active_calibration(s, bundle_id, version))
                if arrays["probs"] is not None:
                    tasks[task] = {"bundle_id": bundle_id, **arrays}
            report(2, 2, "")
            return {"policy": load_policy(s).to_dict(), "tasks": tasks, "counts": _task_counts(s)}
    finally:
        library.close()


def apply_policy(db_path: str, policy: dict[str, Any], report: Any, cancel: Any) -> dict[str, Any]:
    """Save the review policy and recompute every prediction's flags from stored outputs."""
    from tagger_core.db import open_library
    from tagger_core.trust.policy import ReviewPolicy
    from tagger_core.trust.predictions import refresh_predictions, save_policy

    library = open_library(db_path)
    try:
        report(0, 1, "flags")
        new_policy = ReviewPolicy.from_dict(policy)
        library.write(lambda s: save_policy(s, new_policy), "saving the review policy")
        refresh_predictions(library)
        with library.session() as s:
            counts = _task_counts(s)
        report(1, 1, "")
        return {"policy": policy, "counts": counts}
    finally:
        library.close()
