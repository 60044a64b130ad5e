"""Plots: real PNG files with the expected size and content, written where asked."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.special import expit

from tagger_core.errors import CalibrationError
from tagger_core.trust import metrics, plots, scaling

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def diagrams() -> tuple[metrics.ReliabilityDiagram, metrics.ReliabilityDiagram]:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (600, 4))
    y = (rng.random(z.shape) < expit(z)).astype(float)
    return (
        metrics.reliability_diagram(expit(2.5 * z), y),
        metrics.reliability_diagram(expit(z), y),
    )


def _image(data: bytes) -> np.ndarray:
    return imread(io.BytesIO(data), format="png")


def test_single_diagram_png(diagrams, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "reliability.png"
    data = plots.render_reliability(diagrams[0], title="FMA ensemble", path=out)
    assert data.startswith(PNG_MAGIC)
    assert out.read_bytes() == data
    img = _image(data)
    assert img.shape[:2] == (600, 520)  # 5.2 x 6.0 inches at 100 dpi
    assert img[..., :3].std() > 0.1  # something was drawn


def test_comparison_is_side_by_side(diagrams) -> None:  # type: ignore[no-untyped-def]
    img = _image(plots.render_reliability_comparison(list(diagrams)))
    assert img.shape[:2] == (600, 1000)
    left, right = img[:, :500, :3], img[:, 500:, :3]
    assert not np.allclose(left, right)  # two different diagrams


def test_empty_buckets_do_not_break_the_plot() -> None:
    d = metrics.reliability_diagram(np.array([[0.95, 0.05]]), np.array([[1, 0]]))
    assert plots.render_reliability(d).startswith(PNG_MAGIC)


def test_temperature_curve_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (400, 3))
    y = (rng.random(z.shape) < expit(z)).astype(float)
    curve = scaling.mae_temperature_curve(z * 2.0, y, temperatures=[0.5, 1.0, 1.5, 2.0, 3.0])
    data = plots.render_temperature_curve(curve, chosen=2.0, path=tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes() == data
    assert _image(data).shape[:2] == (420, 640)


def test_titles_must_match_diagrams(diagrams) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CalibrationError, match="2 diagrams but 1 titles"):
        plots.render_reliability_comparison(list(diagrams), titles=["only one"])
