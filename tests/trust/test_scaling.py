"""Scalers: recovery of a known temperature, no harm on calibrated data, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.isotonic import IsotonicRegression

from tagger_core.errors import CalibrationError
from tagger_core.trust import metrics
from tagger_core.trust import scaling as s

T_TRUE = np.array([2.5, 1.5, 0.7, 3.0])


def multilabel_source(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True logits and labels drawn from sigmoid(true logits): calibrated at T = 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, T_TRUE.size))
    y = (rng.random(z.shape) < expit(z)).astype(float)
    return z, y


def softmax_source(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, (n, c))
    cls = (rng.random(n)[:, None] > np.cumsum(softmax(z, axis=1), axis=1)).sum(axis=1)
    return z, np.eye(c)[np.minimum(cls, c - 1)]


def test_per_class_temperature_recovered_within_5_percent() -> None:
    z, y = multilabel_source(8000, seed=0)
    scaler = s.TemperatureScaler(per_class=True).fit(z * T_TRUE, y)
    assert scaler.temperature is not None
    np.testing.assert_allclose(scaler.temperature, T_TRUE, rtol=0.05)


def test_shared_sigmoid_temperature_recovered_nll_and_grid() -> None:
    z, y = multilabel_source(8000, seed=1)
    for method in ("nll", "mae_grid"):
        scaler = s.TemperatureScaler(per_class=False, fit_method=method).fit(z * 2.0, y)
        assert scaler.temperature is not None
        assert scaler.temperature.shape == (1,)
        assert scaler.temperature[0] == pytest.approx(2.0, rel=0.05), method


def test_per_class_grid_search_finds_the_neighbourhood() -> None:
    z, y = multilabel_source(8000, seed=2)
    scaler = s.TemperatureScaler(per_class=True, fit_method="mae_grid").fit(z * T_TRUE, y)
    assert scaler.temperature is not None
    np.testing.assert_allclose(scaler.temperature, T_TRUE, rtol=0.12)


@pytest.mark.parametrize("method", ["nll", "mae_grid"])
def test_softmax_temperature_recovered(method: str) -> None:
    z, y = softmax_source(6000, 8, seed=3)
    scaler = s.TemperatureScaler(activation="softmax", per_class=False, fit_method=method)
    scaler.fit(z * 2.0, y)
    assert scaler.temperature is not None
    assert scaler.temperature[0] == pytest.approx(2.0, rel=0.05)


def test_underconfident_source_gets_t_below_one() -> None:
    z, y = multilabel_source(6000, seed=4)
    scaler = s.TemperatureScaler(per_class=False).fit(z * 0.6, y)
    assert scaler.temperature is not None
    assert scaler.temperature[0] == pytest.approx(0.6, rel=0.05)


def test_platt_recovers_slope_and_bias() -> None:
    z, y = multilabel_source(8000, seed=5)
    scaler = s.PlattScaler().fit(z * T_TRUE - 0.5, y)
    assert scaler.a is not None and scaler.b is not None
    np.testing.assert_allclose(scaler.a, 1.0 / T_TRUE, rtol=0.05)
    np.testing.assert_allclose(scaler.b, 0.5 / T_TRUE, atol=0.1)


def test_ensemble_order_is_scale_members_then_average() -> None:
    rng = np.random.default_rng(6)
    members = rng.normal(0.0, 2.0, (3, 50, 4))
    scaler = s.TemperatureScaler(temperature=[2.0, 1.0, 0.5, 4.0])
    out = scaler.transform(members)
    member_probs = expit(members / np.array([2.0, 1.0, 0.5, 4.0]))
    np.testing.assert_allclose(out.mean, member_probs.mean(axis=0))
    np.testing.assert_allclose(out.std, member_probs.std(axis=0))
    # averaging first would give a different answer: the order is a real choice
    averaged_first = expit(members.mean(axis=0) / np.array([2.0, 1.0, 0.5, 4.0]))
    assert not np.allclose(out.mean, averaged_first)


def test_ensemble_fit_improves_held_out_calibration() -> None:
    z, y = multilabel_source(8000, seed=7)
    rng = np.random.default_rng(7)
    members = np.stack([z * 2.5 + rng.normal(0, 1.0, z.shape) for _ in range(2)])
    train, test = slice(0, 4000), slice(4000, None)
    scaler = s.TemperatureScaler(per_class=True).fit(members[:, train], y[train])
    before = s.IdentityScaler().transform(members[:, test]).mean
    after = scaler.transform(members[:, test])
    assert metrics.negative_log_likelihood(after.mean, y[test]) < metrics.negative_log_likelihood(
        before, y[test]
    )
    assert metrics.expected_calibration_error(after.mean, y[test]) < 0.5 * (
        metrics.expected_calibration_error(before, y[test])
    )
    assert after.std.shape == (4000, 4) and np.all(after.std > 0)


def _held_out_nll(scaler: s.Scaler, z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    half = z.shape[0] // 2
    scaler.fit(z[:half], y[:half])
    before = metrics.negative_log_likelihood(expit(z[half:]), y[half:])
    after = metrics.negative_log_likelihood(scaler.transform(z[half:]).mean, y[half:])
    return before, after


@pytest.mark.parametrize(
    "make",
    [
        lambda: s.TemperatureScaler(per_class=True),
        lambda: s.TemperatureScaler(per_class=False),
        lambda: s.TemperatureScaler(per_class=True, fit_method="mae_grid"),
        lambda: s.PlattScaler(),
    ],
)
def test_calibration_does_not_hurt_calibrated_input(make) -> None:  # type: ignore[no-untyped-def]
    for seed in (10, 11):
        z, y = multilabel_source(4000, seed=seed)
        before, after = _held_out_nll(make(), z, y)
        assert after <= before + 0.005


def test_isotonic_does_not_hurt_calibrated_input_in_brier() -> None:
    z, y = multilabel_source(6000, seed=12)
    scaler = s.IsotonicScaler().fit(z[:3000], y[:3000])
    before = metrics.brier_score(expit(z[3000:]), y[3000:])
    after = metrics.brier_score(scaler.transform(z[3000:]).mean, y[3000:])
    assert after <= before + 0.003


def test_isotonic_matches_sklearn() -> None:
    rng = np.random.default_rng(13)
    x = np.round(rng.random(500), 2)  # ties on purpose
    y = (rng.random(500) < x**2).astype(float)
    xs, ys = s.isotonic_fit(x, y)
    ref = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    grid = np.linspace(-0.1, 1.1, 301)
    np.testing.assert_allclose(np.interp(grid, xs, ys), ref.predict(grid), atol=1e-12)
    assert np.all(np.diff(ys) >= 0)


def test_mae_temperature_curve_minimum_near_true_t() -> None:
    z, y = softmax_source(5000, 8, seed=14)
    curve = s.mae_temperature_curve(z * 1.6, y, activation="softmax")
    assert curve.best_temperature == pytest.approx(1.6, rel=0.08)
    at_one = curve.temperatures.index(1.0)
    identity = metrics.reliability_diagram(softmax(z * 1.6, axis=1), y)
    assert curve.mae[at_one] == pytest.approx(metrics.am23_mae(identity))
    assert min(curve.mae) < curve.mae[at_one]
    again = s.TemperatureCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert again == curve


@pytest.mark.parametrize(
    "scaler",
    [
        s.TemperatureScaler(per_class=True),
        s.TemperatureScaler(per_class=False, fit_method="mae_grid"),
        s.PlattScaler(),
        s.IsotonicScaler(),
        s.IdentityScaler(),
    ],
)
def test_parameters_round_trip_through_json(scaler: s.Scaler) -> None:
    z, y = multilabel_source(1000, seed=15)
    members = np.stack([z * 2.0, z * 2.2])
    scaler.fit(members, y)
    data = json.loads(json.dumps(scaler.to_dict()))
    again = s.scaler_from_dict(data)
    assert type(again) is type(scaler)
    a, b = scaler.transform(members), again.transform(members)
    np.testing.assert_allclose(a.mean, b.mean)
    np.testing.assert_allclose(a.std, b.std)


def test_errors_are_one_line_calibration_errors() -> None:
    z, y = multilabel_source(100, seed=16)
    with pytest.raises(CalibrationError, match="not been fitted"):
        s.TemperatureScaler().transform(z)
    with pytest.raises(CalibrationError, match="shared temperature"):
        s.TemperatureScaler(activation="softmax", per_class=True)
    with pytest.raises(CalibrationError, match="exactly one positive"):
        s.TemperatureScaler(activation="softmax", per_class=False).fit(z, y)
    with pytest.raises(CalibrationError, match="4 temperatures but logits have 3"):
        s.TemperatureScaler(temperature=[1, 1, 1, 1]).transform(z[:, :3])
    with pytest.raises(CalibrationError, match="no positive labels"):
        s.PlattScaler().fit(z, np.zeros_like(y))
    with pytest.raises(CalibrationError, match="unknown calibration kind"):
        s.scaler_from_dict({"kind": "magic"})
    with pytest.raises(CalibrationError, match="NaN"):
        s.as_member_logits(np.full((2, 2), np.nan))


@pytest.mark.parametrize("members", [1, 3])
def test_nll_gradients_match_torch_autograd(members: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    scaled = rng.normal(0.0, 4.0, (members, 40, 5))
    y_multi = (rng.random((40, 5)) < 0.4).astype(float)
    y_one_hot = np.eye(5)[rng.integers(0, 5, 40)]
    st = torch.tensor(scaled, requires_grad=True)
    log_m = np.log(members)

    def binary(t):  # type: ignore[no-untyped-def]
        lp = torch.logsumexp(torch.nn.functional.logsigmoid(t), 0) - log_m
        lq = torch.logsumexp(torch.nn.functional.logsigmoid(-t), 0) - log_m
        yt = torch.tensor(y_multi)
        return -(yt * lp + (1 - yt) * lq).mean()

    def categorical(t):  # type: ignore[no-untyped-def]
        lp = torch.logsumexp(torch.log_softmax(t, -1), 0) - log_m
        return -(torch.tensor(y_one_hot) * lp).sum(-1).mean()

    for ours, ref, y in (
        (s.ensemble_binary_nll, binary, y_multi),
        (s.ensemble_categorical_nll, categorical, y_one_hot),
    ):
        st.grad = None
        want = ref(st)
        want.backward()
        loss, grad = ours(scaled, y)
        assert loss == pytest.approx(float(want.detach()), rel=1e-10)
        np.testing.assert_allclose(grad, st.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_extreme_logits_stay_finite() -> None:
    z, y = multilabel_source(500, seed=18)
    scaler = s.TemperatureScaler(per_class=True).fit(z * 15.0, y)
    assert scaler.temperature is not None
    np.testing.assert_allclose(scaler.temperature, 15.0 * np.ones(4), rtol=0.2)
    capped = s.TemperatureScaler(per_class=True).fit(z * 500.0, y)
    assert capped.temperature is not None
    np.testing.assert_allclose(capped.temperature, s.DEFAULT_T_BOUNDS[1])  # held at the bound
    out = capped.transform(z * 500.0)
    assert np.all(np.isfinite(out.mean)) and np.all((out.mean >= 0) & (out.mean <= 1))
