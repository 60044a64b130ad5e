"""Album-level label confidences: pooled from the tracks' member logits, calibrated apart.

Why pool member logits: an album's tracks are several looks at one release. Averaging
each member's label *logits* over the tracks (``logit-mean``) is a normalised product of
experts: tracks that agree keep a confident album score, one odd track moves the album
only by its share, and the result is again (members × labels) logits, so every scaler
of ``trust.scaling`` and the held-out tests of ``trust.crossval`` apply to albums
unchanged. The alternative, the mean of the tracks' probabilities (``prob-mean``), is
kept as a contender: ``album_calibration`` fits both on the albums whose labels are known
and keeps the one with the lower held-out NLL, so the choice is measured per archive.

Albums whose tracks disagree are flagged: a label the album predicts on which the
tracks' own (track-calibrated) confidences spread wider than ``DISAGREE_SPREAD``, or a
track whose best label is not the album's best label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.models import Prediction, Setting, Track
from tagger_core.labels.bundles import BundleError
from tagger_core.labels.tasks import task_bundles
from tagger_core.trust.policy import confidence_text
from tagger_core.trust.predictions import calibrated, load_label_outputs, load_policy

POOLINGS = ("logit-mean", "prob-mean")
DEFAULT_POOLING = "logit-mean"
#: Tracks' confidences in one album label spreading wider than this is a disagreement.
DISAGREE_SPREAD = 0.5
SETTING_PREFIX = "album_calibration:"
_EPS = 1e-6


def pool_tracks(logits: np.ndarray, pooling: str = DEFAULT_POOLING) -> np.ndarray:
    """(members × tracks × labels) member logits of one album → (members × labels)."""
    z = np.asarray(logits, dtype=np.float64)
    if pooling == "logit-mean":
        return z.mean(axis=1)
    if pooling == "prob-mean":
        p = np.clip((1.0 / (1.0 + np.exp(-z))).mean(axis=1), _EPS, 1 - _EPS)
        return np.log(p / (1 - p))
    raise ValueError(f"unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}")


@dataclass
class AlbumOutputs:
    """Pooled label logits of many albums: ``logits`` is (members, albums, labels)."""

    bundle_id: str
    version: str
    task: str
    labels: tuple[str, ...]
    keys: list[str]
    tracks: dict[str, list[int]]
    logits: np.ndarray


def album_members(session: Session, keys: list[str] | None = None) -> dict[str, list[int]]:
    """Readable track ids of each album (all albums when ``keys`` is None), by album key."""
    stmt = select(Track.album_key, Track.id).where(
        Track.album_key.is_not(None), Track.status == "ok"
    )
    if keys is not None:
        stmt = stmt.where(Track.album_key.in_(keys))
    out: dict[str, list[int]] = {}
    for key, tid in session.execute(stmt.order_by(Track.id)):
        out.setdefault(key, []).append(tid)
    return out


def album_outputs(
    session: Session,
    bundle_id: str,
    keys: list[str] | None = None,
    poolings: tuple[str, ...] = (DEFAULT_POOLING,),
) -> dict[str, AlbumOutputs]:
    """Pooled outputs per pooling of the albums with at least one analysed track."""
    members = album_members(session, keys)
    ids = sorted({t for ts in members.values() for t in ts})
    groups = load_label_outputs(session, bundle_id, ids if keys is not None else None)
    # Tracks with and without a partner bundle carry different label sets; albums are
    # pooled over the larger group, as the track calibration is fitted on it.
    group = max(groups, key=lambda g: len(g.track_ids))
    row = {int(t): i for i, t in enumerate(group.track_ids.tolist())}
    found = {k: [t for t in ts if t in row] for k, ts in members.items()}
    order = sorted(k for k, ts in found.items() if ts)
    out: dict[str, AlbumOutputs] = {}
    for pooling in poolings:
        pooled = [
            pool_tracks(group.logits[:, [row[t] for t in found[k]], :], pooling) for k in order
        ]
        n_members, n_labels = group.logits.shape[0], len(group.labels)
        logits = np.stack(pooled, axis=1) if pooled else np.zeros((n_members, 0, n_labels))
        out[pooling] = AlbumOutputs(
            group.bundle_id, group.version, group.task, group.labels, order,
            {k: found[k] for k in order}, logits,
        )  # fmt: skip
    return out


def load_album_calibration(session: Session, bundle_id: str) -> dict[str, Any] | None:
    """The stored album calibration of ``bundle_id`` (fitted by ``album_calibration``)."""
    row = session.get(Setting, SETTING_PREFIX + bundle_id)
    return dict(row.value) if row is not None else None


@dataclass
class AlbumPrediction:
    """Album-level confidences of one task, and why the album may need a person's look."""

    key: str
    bundle_id: str
    labels: tuple[str, ...]
    probs: dict[str, float]
    spread: dict[str, float]
    calibrated: bool
    pooling: str
    tracks: list[int]
    reasons: list[str] = field(default_factory=list)
    odd_tracks: list[int] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)

    def ranked(self) -> list[tuple[str, float]]:
        return sorted(self.probs.items(), key=lambda kv: -kv[1])

    def chosen(self, threshold: float) -> list[str]:
        """Labels at or over ``threshold``, best first (the best one when none clears it)."""
        ranked = self.ranked()
        picked = [k for k, v in ranked if v >= threshold]
        return picked or ([ranked[0][0]] if ranked else [])

    def summary(self, threshold: float) -> str:
        ranked = self.ranked()
        shown = [f"{k} {confidence_text(v, threshold)}" for k, v in ranked if v >= threshold]
        if shown or not ranked:
            return ", ".join(shown)
        return f"(best {ranked[0][0]} {confidence_text(ranked[0][1], threshold)})"

    def to_dict(self, threshold: float) -> dict[str, Any]:
        return {
            "bundle": self.bundle_id,
            "confidences": {k: round(v, 4) for k, v in self.ranked()},
            "spread": {k: round(v, 4) for k, v in self.spread.items()},
            "calibrated": self.calibrated,
            "pooling": self.pooling,
            "labels": self.chosen(threshold),
            "summary": self.summary(threshold),
            "flagged": self.flagged,
            "reasons": list(self.reasons),
            "odd_tracks": list(self.odd_tracks),
        }


def _track_confidences(
    session: Session, bundle_id: str, track_ids: list[int]
) -> dict[int, dict[str, float]]:
    rows = session.execute(
        select(Prediction.track_id, Prediction.confidences).where(
            Prediction.bundle_id == bundle_id, Prediction.track_id.in_(track_ids)
        )
    )
    return {tid: {str(k): float(v) for k, v in (conf or {}).items()} for tid, conf in rows}


def disagreements(
    album: AlbumPrediction, tracks: dict[int, dict[str, float]], threshold: float
) -> tuple[list[str], list[int]]:
    """Reasons the album's tracks disagree, and the tracks whose best label is not the album's."""
    reasons: list[str] = []
    for label in album.chosen(threshold):
        values = [conf[label] for conf in tracks.values() if label in conf]
        if len(values) >= 2 and max(values) - min(values) > DISAGREE_SPREAD:
            reasons.append(
                f"tracks disagree on {label}: {min(values):.2f} to {max(values):.2f}"
            )
    best = album.chosen(threshold)[:1]
    odd: list[int] = []
    for tid, conf in tracks.items():
        if best and conf:
            top = max(conf.items(), key=lambda kv: kv[1])[0]
            if top != best[0]:
                odd.append(tid)
    if odd and len(tracks) >= 2:
        reasons.append(
            f"{len(odd)} of {len(tracks)} tracks sound most like another label than {best[0]}"
        )
    return reasons, sorted(odd)


def album_predictions(
    session: Session, bundle_id: str, keys: list[str] | None = None
) -> dict[str, AlbumPrediction]:
    """Album-level predictions of ``bundle_id`` for ``keys`` (every album when None).

    Calibrated when an album calibration is stored and active for the installed
    version of the bundle; the raw pooled ensemble otherwise.
    """
    state = load_album_calibration(session, bundle_id)
    pooling = (state or {}).get("pooling", DEFAULT_POOLING)
    outputs = album_outputs(session, bundle_id, keys, (pooling,))[pooling]
    if not outputs.keys:
        return {}
    active = (
        state is not None and state.get("active") and state.get("version") == outputs.version
    )
    params = {"labels": state["labels"], "scaler": state["scaler"]} if active and state else None
    probs, spread = calibrated(params, outputs.labels, outputs.logits)
    fitted = set(params["labels"]) if params else set()
    threshold = load_policy(session).accept_threshold
    all_tracks = [t for ts in outputs.tracks.values() for t in ts]
    track_conf = _track_confidences(session, bundle_id, all_tracks)
    out: dict[str, AlbumPrediction] = {}
    for i, key in enumerate(outputs.keys):
        album = AlbumPrediction(
            key=key,
            bundle_id=bundle_id,
            labels=outputs.labels,
            probs={name: float(probs[i, c]) for c, name in enumerate(outputs.labels)},
            spread={name: float(spread[i, c]) for c, name in enumerate(outputs.labels)},
            calibrated=bool(fitted),
            pooling=pooling,
            tracks=outputs.tracks[key],
        )
        mine = {t: track_conf[t] for t in album.tracks if t in track_conf}
        album.reasons, album.odd_tracks = disagreements(album, mine, threshold)
        out[key] = album
    return out


def album_task_predictions(
    session: Session, keys: list[str]
) -> dict[str, dict[str, AlbumPrediction]]:
    """``{album key: {task: prediction}}`` from the bundles the app shows for each task."""
    shown = task_bundles(session)
    out: dict[str, dict[str, AlbumPrediction]] = {k: {} for k in keys}
    if not keys:
        return out
    for task, bundle_id in (("genre", shown.genre), ("instruments", shown.instruments)):
        try:
            found = album_predictions(session, bundle_id, keys)
        except BundleError:
            continue
        for key, prediction in found.items():
            out[key][task] = prediction
    return out


def state_text(state: dict[str, Any] | None) -> str:
    """One line on the album calibration of a bundle, for the CLI, the GUI and the report."""
    if state is None:
        return "album confidences uncalibrated (no album calibration fitted)"
    after = state["report"]["after"]
    before = state["report"]["before"]
    figures = (
        f"held-out NLL {before['nll']:.3f} → {after['nll']:.3f}, "
        f"ECE {before['ece']:.3f} → {after['ece']:.3f} on {state['albums']} albums"
    )
    if state.get("active"):
        return f"album confidences calibrated ({state['method']}, {state['pooling']}; {figures})"
    worse = ", ".join(name for name, *_ in state.get("worse", []))
    return f"album calibration not applied: held-out {worse} got worse ({figures})"
