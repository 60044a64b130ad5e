"""Reliability diagrams and MAE-vs-temperature curves as PNG images (matplotlib Agg).

Drawn on a bare ``Figure`` with the Agg canvas, never through pyplot, so no
GUI backend is touched and the GUI can show the PNG bytes or the CLI can
write them to a file. Layout follows AM'23's figures: observed frequency per
confidence bucket against the diagonal, with the bucket populations below.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tagger_core.errors import CalibrationError
from tagger_core.trust.metrics import (
    ReliabilityDiagram,
    am23_mae,
    am23_weighted_mae,
    diagram_ece,
)
from tagger_core.trust.scaling import TemperatureCurve

_BAR = "#4c72b0"
_WIN = "#dd8452"
_DIAG = "#2ca02c"
_DPI = 100


def _png(fig: Figure, path: str | Path | None) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _wants_log(diagrams: Sequence[ReliabilityDiagram]) -> bool:
    """Log count axis when bucket populations differ by more than 50x (the usual case)."""
    counts = np.concatenate([np.asarray(d.count) for d in diagrams])
    counts = counts[counts > 0]
    return counts.size > 0 and counts.max() / counts.min() > 50


def _draw_reliability(
    top: Axes, bottom: Axes, diagram: ReliabilityDiagram, title: str, log_counts: bool
) -> None:
    edges = diagram.edges
    width = edges[1] - edges[0]
    freq = np.nan_to_num(np.asarray(diagram.frequency), nan=0.0)
    conf = np.asarray(diagram.mean_confidence)
    count = np.asarray(diagram.count)
    nonempty = count > 0
    top.bar(
        edges[:-1][nonempty], freq[nonempty], width=width, align="edge",
        color=_BAR, edgecolor="white", alpha=0.85, label="observed frequency",
    )
    top.plot(
        [0, 1], [0, 1], linestyle="--", color=_DIAG, linewidth=1.5, label="perfect calibration"
    )
    top.plot(
        conf[nonempty], freq[nonempty], "o", color="black", markersize=4,
        label="mean confidence in bucket",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.03)  # room for markers at exactly 1
    top.set_ylabel("observed frequency")
    top.set_title(title, fontsize=11)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8, framealpha=0.9)
    text = (
        f"MAE {am23_mae(diagram):.3f}\nweighted MAE {am23_weighted_mae(diagram):.3f}\n"
        f"ECE {diagram_ece(diagram):.3f}\nn = {diagram.total:,}"
    )
    top.text(
        0.97, 0.04, text, transform=top.transAxes, ha="right", va="bottom", fontsize=8,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9, "edgecolor": "0.7"},
    )
    half = width * 0.45
    bottom.bar(
        edges[:-1] + width * 0.05, count, width=half, align="edge", color="0.55",
        label="all scores",
    )
    bottom.bar(
        edges[:-1] + width * 0.5, np.asarray(diagram.winning_count), width=half, align="edge",
        color=_WIN, label="winning-class scores",
    )
    if log_counts:
        bottom.set_yscale("log")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("count")
    bottom.legend(loc="upper center", fontsize=7, ncol=2, framealpha=0.9)
    bottom.grid(alpha=0.3)


def _reliability_axes(fig: Figure, n: int) -> list[tuple[Axes, Axes]]:
    grid = fig.add_gridspec(2, n, height_ratios=(3, 1), hspace=0.08, wspace=0.25)
    pairs: list[tuple[Axes, Axes]] = []
    for i in range(n):
        top = fig.add_subplot(grid[0, i])
        bottom = fig.add_subplot(grid[1, i], sharex=top, sharey=pairs[0][1] if pairs else None)
        top.tick_params(labelbottom=False)
        pairs.append((top, bottom))
    return pairs


def render_reliability(
    diagram: ReliabilityDiagram, title: str = "Reliability diagram", path: str | Path | None = None
) -> bytes:
    """PNG of one reliability diagram; also written to ``path`` when given."""
    fig = Figure(figsize=(5.2, 6.0), layout="constrained")
    (top, bottom), = _reliability_axes(fig, 1)
    _draw_reliability(top, bottom, diagram, title, _wants_log([diagram]))
    return _png(fig, path)


def render_reliability_comparison(
    diagrams: Sequence[ReliabilityDiagram],
    titles: Sequence[str] = ("Before calibration", "After calibration"),
    path: str | Path | None = None,
) -> bytes:
    """PNG of diagrams side by side (before/after calibration, or several models)."""
    if len(diagrams) != len(titles):
        raise CalibrationError(f"{len(diagrams)} diagrams but {len(titles)} titles")
    fig = Figure(figsize=(5.0 * len(diagrams), 6.0), layout="constrained")
    log_counts = _wants_log(diagrams)  # one scale for all panels, so they compare
    for (top, bottom), diagram, title in zip(
        _reliability_axes(fig, len(diagrams)), diagrams, titles, strict=True
    ):
        _draw_reliability(top, bottom, diagram, title, log_counts)
    return _png(fig, path)


def render_temperature_curve(
    curve: TemperatureCurve,
    chosen: float | None = None,
    title: str = "Calibration error vs temperature",
    path: str | Path | None = None,
) -> bytes:
    """PNG of MAE, weighted MAE and ECE against T (AM'23 Figure 2), minimum marked."""
    t = np.asarray(curve.temperatures)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(t, curve.mae, color="black", linewidth=2, label="MAE (AM'23)")
    ax.plot(t, curve.weighted_mae, color=_WIN, linewidth=1.5, label="weighted MAE")
    ax.plot(t, curve.ece, color=_BAR, linewidth=1.5, linestyle="--", label="ECE")
    best = curve.best_temperature
    best_mae = curve.mae[curve.temperatures.index(best)]
    ax.plot([best], [best_mae], "o", color="red", zorder=5)
    ax.annotate(
        f"lowest MAE {best_mae:.3f}\nat T = {best:.2f}", (best, best_mae),
        textcoords="offset points", xytext=(14, 18), fontsize=8, color="red",
        arrowprops={"arrowstyle": "-", "color": "red", "linewidth": 0.8},
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "red", "alpha": 0.9},
    )
    if t.min() <= 1.0 <= t.max():
        ax.axvline(1.0, color="0.5", linewidth=1, linestyle=":", label="T = 1 (uncalibrated)")
    if chosen is not None:
        ax.axvline(chosen, color=_DIAG, linewidth=1.5, label=f"chosen T = {chosen:.2f}")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("error")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig, path)
