"""Which tracks a person should review, and why: a vectorised review-flag policy.

Inputs are calibrated ensemble probabilities (N x C), optionally the member
spread (N x C standard deviation) and the labels the files' existing tags map
to (N x C, 0/1). A track is flagged for any of four reasons:

- ``uncertain`` (when ``flag_uncertain``): some class's probability lies in the
  uncertain band ``[uncertain_low, uncertain_high]`` (inclusive);
- ``not_found``: no class reaches ``accept_threshold`` (when ``flag_not_found``;
  for a bundle with no calibration only when ``not_found_uncalibrated`` too,
  because raw outputs rarely clear the threshold and every track would be flagged);
- ``disagree`` (when ``flag_disagree``): the members' spread on some class exceeds
  ``disagreement_limit``;
- ``contradicts_tag`` (when ``contradict_existing``): the file carries labels,
  the model's top class reaches the accept threshold and is not among them, and
  none of the file's labels reaches it.

A bundle with no calibration (active or shipped) is not flagged by these rules
unless ``not_found_uncalibrated`` asks for them: its outputs are not
probabilities, so the thresholds would flag most of a library. Instead
``review_share`` of its tracks are flagged by review value
(:mod:`tagger_core.trust.review_value`), with the reason ``review_value``.

The queue order is an uncertainty score, highest first:
``score = max_c max(1 - |2 p - 1|, min(1, 2 * spread))``, which is 1 for a
probability of 0.5 or a maximal member split and 0 for unanimous 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from tagger_core.errors import CalibrationError, ConfigError

#: Key of the stored policy in the library's ``settings`` table (read without importing torch).
POLICY_KEY = "review_policy"

UNCERTAIN = "uncertain"
NOT_FOUND = "not_found"
DISAGREE = "disagree"
CONTRADICTS_TAG = "contradicts_tag"
REVIEW_VALUE = "review_value"
REASON_CODES = (UNCERTAIN, NOT_FOUND, DISAGREE, CONTRADICTS_TAG, REVIEW_VALUE)


def confidence_text(p: float, threshold: float) -> str:
    """``p`` with two decimals, more where two would hide which side of ``threshold`` it is."""
    for digits in (2, 3, 4):
        text = f"{p:.{digits}f}"
        if p == threshold or text != f"{threshold:.{digits}f}":
            return text
    return text


@dataclass(frozen=True)
class ReviewPolicy:
    """Thresholds that decide which tracks go to the review queue."""

    uncertain_low: float = 0.35
    uncertain_high: float = 0.65
    accept_threshold: float = 0.5
    disagreement_limit: float = 0.15
    flag_not_found: bool = True
    contradict_existing: bool = True
    flag_uncertain: bool = True
    flag_disagree: bool = True
    not_found_uncalibrated: bool = False
    review_share: float = 0.10

    def __post_init__(self) -> None:
        for name in ("uncertain_low", "uncertain_high", "accept_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"review policy {name} must be between 0 and 1, got {value}")
        if self.uncertain_low > self.uncertain_high:
            raise ConfigError(
                f"review policy uncertain band is empty: low {self.uncertain_low} > "
                f"high {self.uncertain_high}"
            )
        if not 0.0 < self.review_share <= 1.0:
            raise ConfigError(
                "review policy review_share (the share of an uncalibrated library flagged for "
                f"review) must be above 0 and at most 1, got {self.review_share}"
            )
        if not 0.0 <= self.disagreement_limit <= 0.5:
            raise ConfigError(
                "review policy disagreement_limit must be between 0 and 0.5 (a spread of "
                f"probabilities cannot exceed 0.5), got {self.disagreement_limit}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def not_found_on(self, calibrated: bool) -> bool:
        """Whether "not found" flags tracks of a bundle with (or without) an active calibration."""
        return self.flag_not_found and (calibrated or self.not_found_uncalibrated)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewPolicy:
        """Build from a dict; missing keys take defaults, unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown review policy setting(s): {', '.join(extra)}")
        return cls(**data)


#: What each policy setting does, in the words the CLI and the GUI show.
SETTING_HELP: dict[str, str] = {
    "flag_uncertain": "flag a label inside the uncertain band",
    "uncertain_low": "lower end of the uncertain band",
    "uncertain_high": "upper end of the uncertain band",
    "accept_threshold": "a label at or over this is predicted",
    "flag_not_found": "flag tracks where no label clears the accept threshold",
    "not_found_uncalibrated": (
        "flag models with no calibration by these thresholds too (\"not found\" included; "
        "their raw outputs rarely clear them) instead of flagging a share by review value"
    ),
    "flag_disagree": "flag labels the ensemble members disagree on",
    "disagreement_limit": "member spread above this counts as disagreement",
    "contradict_existing": "flag confident predictions that contradict the genre tag",
    "review_share": (
        "share of the library flagged for a model with no calibration, the most valuable "
        "reviews first (uncertain, and unlike tracks already reviewed)"
    ),
}


@dataclass(frozen=True)
class Reason:
    """Why a track is flagged: a machine code, the class concerned, a sentence for people."""

    code: str
    label: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        # Built by hand: asdict() deep-copies and dominated recomputing 100k tracks.
        return {"code": self.code, "label": self.label, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reason:
        return cls(code=str(data["code"]), label=data.get("label"), message=str(data["message"]))


@dataclass(frozen=True)
class FlagCounts:
    """How many tracks a policy flags, in all and per reason (a track may have several)."""

    tracks: int
    flagged: int
    uncertain: int
    not_found: int
    disagree: int
    contradicts_tag: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlagCounts:
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})


def _inputs(
    probs: Any, spread: Any | None, existing: Any | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    p = np.asarray(probs)
    if p.ndim != 2 or p.shape[1] == 0:
        raise CalibrationError(f"probabilities must be tracks x classes, got shape {p.shape}")
    s = None if spread is None else np.asarray(spread)
    e = None if existing is None else np.asarray(existing).astype(bool)
    for name, arr in (("member spread", s), ("existing labels", e)):
        if arr is not None and arr.shape != p.shape:
            raise CalibrationError(f"{name} {arr.shape} must match probabilities {p.shape}")
    return p, s, e


@dataclass
class ReviewFlags:
    """Per-track flags of one policy on one set of tracks, with reasons on demand."""

    policy: ReviewPolicy
    class_names: tuple[str, ...]
    probs: np.ndarray
    spread: np.ndarray | None
    existing: np.ndarray | None
    uncertain: np.ndarray
    not_found: np.ndarray
    disagree: np.ndarray
    contradicts_tag: np.ndarray
    top: np.ndarray
    score: np.ndarray
    noun: str = "genre"

    @property
    def flagged(self) -> np.ndarray:
        """(N,) bool: tracks with at least one reason."""
        return (
            self.uncertain.any(axis=1)
            | self.not_found
            | self.disagree.any(axis=1)
            | self.contradicts_tag
        )

    def queue(self) -> np.ndarray:
        """Indices of flagged tracks, most uncertain first (ties by track order)."""
        idx = np.flatnonzero(self.flagged)
        return idx[np.argsort(-self.score[idx], kind="stable")]

    def counts(self) -> FlagCounts:
        return FlagCounts(
            tracks=int(self.probs.shape[0]),
            flagged=int(self.flagged.sum()),
            uncertain=int(self.uncertain.any(axis=1).sum()),
            not_found=int(self.not_found.sum()),
            disagree=int(self.disagree.any(axis=1).sum()),
            contradicts_tag=int(self.contradicts_tag.sum()),
        )

    def reasons(self, track: int) -> list[Reason]:
        """Reasons for one track, as codes and sentences (empty when not flagged)."""
        pol, names, p = self.policy, self.class_names, self.probs[track]
        out: list[Reason] = []
        for c in np.flatnonzero(self.uncertain[track]):
            value = confidence_text(p[c], pol.accept_threshold)
            out.append(
                Reason(
                    UNCERTAIN,
                    names[c],
                    f"{names[c]} {value} is in the uncertain band "
                    f"{pol.uncertain_low:.2f}\u2013{pol.uncertain_high:.2f}",
                )
            )
        if self.not_found[track]:
            out.append(
                Reason(
                    NOT_FOUND,
                    None,
                    f"no {self.noun} clears {pol.accept_threshold:.2f}: not found",
                )
            )
        if self.spread is not None:
            for c in np.flatnonzero(self.disagree[track]):
                out.append(
                    Reason(
                        DISAGREE,
                        names[c],
                        f"members disagree on {names[c]} (spread {self.spread[track, c]:.2f})",
                    )
                )
        if self.contradicts_tag[track] and self.existing is not None:
            top = int(self.top[track])
            tagged = ", ".join(names[c] for c in np.flatnonzero(self.existing[track]))
            out.append(
                Reason(
                    CONTRADICTS_TAG,
                    names[top],
                    f"model says {names[top]} {p[top]:.2f} but the file's {self.noun} tag "
                    f"says {tagged}",
                )
            )
        return out


def _flag_arrays(
    p: np.ndarray,
    s: np.ndarray | None,
    e: np.ndarray | None,
    policy: ReviewPolicy,
    calibrated: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if policy.flag_uncertain:
        uncertain = (p >= policy.uncertain_low) & (p <= policy.uncertain_high)
    else:
        uncertain = np.zeros(p.shape, dtype=bool)
    top = np.argmax(p, axis=1)
    top_p = np.take_along_axis(p, top[:, None], axis=1)[:, 0]
    clears = top_p >= policy.accept_threshold
    if policy.not_found_on(calibrated):
        not_found = ~clears
    else:
        not_found = np.zeros(p.shape[0], dtype=bool)
    if s is not None and policy.flag_disagree:
        disagree = s > policy.disagreement_limit
    else:
        disagree = np.zeros(p.shape, dtype=bool)
    if policy.contradict_existing and e is not None:
        has_tag = e.any(axis=1)
        top_tagged = np.take_along_axis(e, top[:, None], axis=1)[:, 0]
        tag_supported = (e & (p >= policy.accept_threshold)).any(axis=1)
        contradicts = has_tag & clears & ~top_tagged & ~tag_supported
    else:
        contradicts = np.zeros(p.shape[0], dtype=bool)
    return uncertain, not_found, disagree, contradicts, top


def evaluate_policy(
    probs: Any,
    policy: ReviewPolicy | None = None,
    spread: Any | None = None,
    existing: Any | None = None,
    class_names: Sequence[str] | None = None,
    noun: str = "genre",
    calibrated: bool = True,
) -> ReviewFlags:
    """Flags, reasons and queue score for N tracks under ``policy`` (see the module doc).

    ``calibrated``: whether the bundle has an active calibration (see ``not_found``).
    """
    policy = policy or ReviewPolicy()
    p, s, e = _inputs(probs, spread, existing)
    if class_names is None:
        class_names = [f"class {c}" for c in range(p.shape[1])]
    names = tuple(class_names)
    if len(names) != p.shape[1]:
        raise CalibrationError(f"{len(names)} class names for {p.shape[1]} classes")
    uncertain, not_found, disagree, contradicts, top = _flag_arrays(p, s, e, policy, calibrated)
    closeness = 1.0 - np.abs(2.0 * p - 1.0)
    if s is not None:
        closeness = np.maximum(closeness, np.minimum(1.0, 2.0 * s))
    return ReviewFlags(
        policy=policy,
        class_names=names,
        probs=p,
        spread=s,
        existing=e,
        uncertain=uncertain,
        not_found=not_found,
        disagree=disagree,
        contradicts_tag=contradicts,
        top=top,
        score=closeness.max(axis=1),
        noun=noun,
    )


def count_flags(
    probs: Any,
    policy: ReviewPolicy | None = None,
    spread: Any | None = None,
    existing: Any | None = None,
    calibrated: bool = True,
) -> FlagCounts:
    """How many tracks ``policy`` would flag, for live counts beside the settings.

    Pure comparisons over the arrays (no reasons, no score), so 100k tracks x
    15 classes take milliseconds; pass float32 arrays to halve the memory traffic.
    """
    policy = policy or ReviewPolicy()
    p, s, e = _inputs(probs, spread, existing)
    uncertain, not_found, disagree, contradicts, _ = _flag_arrays(p, s, e, policy, calibrated)
    u, d = uncertain.any(axis=1), disagree.any(axis=1)
    return FlagCounts(
        tracks=int(p.shape[0]),
        flagged=int((u | not_found | d | contradicts).sum()),
        uncertain=int(u.sum()),
        not_found=int(not_found.sum()),
        disagree=int(d.sum()),
        contradicts_tag=int(contradicts.sum()),
    )
