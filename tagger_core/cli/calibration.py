"""Calibration commands that work on files, without a library: ``calibrate-file`` and ``genre-map``.

``calibrate-file`` fits and cross-validates a calibration on member logits and
labels saved as ``.npz`` (arrays ``logits``: members x tracks x classes or
tracks x classes, ``labels``: tracks x classes of 0/1, optional ``class_names``),
prints the before/after report and can write the reliability PNGs.
``genre-map`` shows how genre tag strings map onto the app's genre labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from tagger_core.cli.common import print_json
from tagger_core.errors import TaggerError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "calibrate-file", help="fit and cross-validate a calibration on logits saved as .npz"
    )
    p.add_argument(
        "npz", metavar="FILE.npz", help="arrays 'logits', 'labels', optional 'class_names'"
    )
    p.add_argument("--method", choices=("temperature", "platt", "isotonic"), default="temperature")
    p.add_argument("--fit", choices=("nll", "mae_grid"), default="nll", help="temperature fitting")
    p.add_argument("--shared", action="store_true", help="one temperature for all classes")
    p.add_argument("--softmax", action="store_true", help="single-label softmax outputs (AM'23)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plots", metavar="DIR", help="write reliability and MAE-vs-T PNGs here")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_calibrate_file)

    p = sub.add_parser("genre-map", help="map genre tag strings onto the app's genre labels")
    p.add_argument("values", nargs="+", metavar="TEXT", help='tag values, e.g. "Hip Hop" "(17)"')
    p.add_argument("--genre-synonyms", metavar="FILE", help="extra synonym TOML merged on top")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_genre_map)


def _load_npz(path: str) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "logits" not in data or "labels" not in data:
                raise TaggerError(f"{path} must hold arrays named 'logits' and 'labels'")
            names = [str(n) for n in data["class_names"]] if "class_names" in data else None
            return np.asarray(data["logits"]), np.asarray(data["labels"]), names
    except (OSError, ValueError) as err:
        raise TaggerError(f"cannot read {path} as .npz: {err}") from None


def _make_scaler(args: Any) -> Any:
    from tagger_core.trust.scaling import IsotonicScaler, PlattScaler, TemperatureScaler

    if args.method == "platt":
        return PlattScaler()
    if args.method == "isotonic":
        return IsotonicScaler()
    activation = "softmax" if args.softmax else "sigmoid"
    per_class = not (args.shared or args.softmax)
    return TemperatureScaler(activation=activation, per_class=per_class, fit_method=args.fit)


def cmd_calibrate_file(args: Any) -> int:
    from tagger_core.trust import metrics, plots
    from tagger_core.trust.crossval import cross_validate
    from tagger_core.trust.scaling import (
        IdentityScaler,
        as_member_logits,
        mae_temperature_curve,
    )

    logits, labels, names = _load_npz(args.npz)
    members = as_member_logits(logits)
    template = _make_scaler(args)
    report = cross_validate(
        members, labels, template, k=args.folds, seed=args.seed, class_names=names
    )
    fitted = _make_scaler(args).fit(members, labels)
    before = IdentityScaler(template.activation).transform(members).mean
    after = fitted.transform(members).mean
    if args.plots:
        out = Path(args.plots)
        out.mkdir(parents=True, exist_ok=True)
        plots.render_reliability_comparison(
            [metrics.reliability_diagram(p, labels) for p in (before, after)],
            titles=("Before calibration", f"After {args.method} scaling"),
            path=out / "reliability.png",
        )
        curve = mae_temperature_curve(members, labels, activation=template.activation)
        chosen = getattr(fitted, "temperature", None)
        plots.render_temperature_curve(
            curve,
            chosen=float(chosen[0]) if chosen is not None and chosen.size == 1 else None,
            path=out / "mae_vs_temperature.png",
        )
    if args.json:
        print_json({"parameters": fitted.to_dict(), "cross_validation": report.to_dict()})
        return 0
    b, a = report.before, report.after
    print(f"{members.shape[1]} tracks, {members.shape[2]} classes, {members.shape[0]} member(s)")
    print(f"held-out ({report.k} folds)   before   after")
    for key in ("mae", "weighted_mae", "ece", "brier", "nll"):
        print(f"  {key:<22} {getattr(b, key):7.4f}  {getattr(a, key):7.4f}")
    for c in report.per_class:
        print(
            f"  {c.name:<22} ECE {c.before.ece:.4f} -> {c.after.ece:.4f}"
            f"  ({c.positives} positive, {c.negatives} negative)"
        )
    return 0


def cmd_genre_map(args: Any) -> int:
    from tagger_core.labels.genre_normalizer import load_genre_normalizer

    normalizer = load_genre_normalizer(args.genre_synonyms)
    rows = [{"value": v, **normalizer.match(v).to_dict()} for v in args.values]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        labels = ", ".join(row["labels"]) or "-"
        extra = f"   (unknown: {', '.join(row['unknown'])})" if row["unknown"] else ""
        print(f"{row['value']!r}: {labels}{extra}")
    return 0
