"""Post-hoc calibration of ensemble logits: temperature, Platt and isotonic scaling.

All scalers share one interface: ``fit(member_logits, labels)`` and
``transform(member_logits) -> EnsembleProbabilities``. ``member_logits`` has
shape (M members, N tracks, C classes); a plain (N, C) matrix is one member.

Order of operations (AM'23): each member's logits are scaled by the same
parameters and turned into probabilities (sigmoid or softmax), *then* the
member probabilities are averaged; the parameters are fitted so that this
averaged output is calibrated (AM'23's ensemble curve in its Figure 2 is the
ensemble of temperature-scaled members). The paper writes that logits are
"multiplied with the temperature", but the behaviour it reports (T > 1 softens
an overconfident model, T = 0.8 sharpens an underconfident one) is that of
dividing, ``z / T``, which is what we do. The member spread (standard
deviation over members, ``ddof=0``) is reported in calibrated units.

Isotonic scaling is the exception: it is a non-parametric map of one score, so
it is fitted on, and applied to, the averaged uncalibrated member probability
(average, then calibrate); its spread is that of the mapped member probabilities.

Temperature fitting is selectable: ``"nll"`` minimises the negative
log-likelihood with bounded L-BFGS (on log T, analytic gradients), ``"mae_grid"``
searches a grid of T for the lowest AM'23 MAE, as the paper does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from scipy.special import expit, log_expit, log_softmax, logsumexp, softmax

from tagger_core.errors import CalibrationError
from tagger_core.trust import metrics

Activation = Literal["sigmoid", "softmax"]
FitMethod = Literal["nll", "mae_grid"]

DEFAULT_T_BOUNDS = (0.05, 20.0)
DEFAULT_T_GRID = tuple(round(0.25 + 0.05 * i, 2) for i in range(76))  # 0.25 ... 4.00


def as_member_logits(logits: Any) -> np.ndarray:
    """Return logits as a float64 (M, N, C) array; an (N, C) matrix is one member."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 2:
        z = z[None]
    if z.ndim != 3 or z.shape[0] == 0 or z.shape[1] == 0 or z.shape[2] == 0:
        raise CalibrationError(
            f"logits must be members x tracks x classes (or tracks x classes), got {z.shape}"
        )
    if not np.all(np.isfinite(z)):
        raise CalibrationError("logits contain NaN or infinite values")
    return z


def _check_labels(labels: Any, z: np.ndarray) -> np.ndarray:
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape != z.shape[1:]:
        raise CalibrationError(
            f"labels {y.shape} do not match logits {z.shape[1:]} (tracks x classes)"
        )
    if not np.all((y == 0) | (y == 1)):
        raise CalibrationError("labels must be 0 or 1")
    return y


def _check_one_hot(y: np.ndarray) -> None:
    if not np.all(y.sum(axis=1) == 1):
        raise CalibrationError("softmax calibration needs exactly one positive label per track")


def _check_both_classes(y: np.ndarray) -> None:
    pos = y.sum(axis=0)
    for c in range(y.shape[1]):
        if pos[c] == 0 or pos[c] == y.shape[0]:
            which = "positive" if pos[c] == 0 else "negative"
            raise CalibrationError(
                f"class {c} has no {which} labels: per-class calibration needs both"
            )


@dataclass
class EnsembleProbabilities:
    """Calibrated ensemble output: member-averaged probabilities and member spread."""

    mean: np.ndarray
    std: np.ndarray


def _activate(s: np.ndarray, activation: Activation) -> np.ndarray:
    return expit(s) if activation == "sigmoid" else softmax(s, axis=-1)


def _ensemble(member_probs: np.ndarray) -> EnsembleProbabilities:
    return EnsembleProbabilities(mean=member_probs.mean(axis=0), std=member_probs.std(axis=0))


def apply_temperature(
    member_logits: Any, temperature: float | np.ndarray, activation: Activation = "sigmoid"
) -> EnsembleProbabilities:
    """Scale each member's logits by ``1/T`` (scalar or per class), activate, average."""
    z = as_member_logits(member_logits)
    t = np.asarray(temperature, dtype=np.float64)
    return _ensemble(_activate(z / t, activation))


# --- NLL objectives with analytic gradients (log-domain: no overflow, no log(0))


def ensemble_binary_nll(scaled: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean binary NLL of ``p = mean_m sigmoid(s_m)`` and its gradient with respect to ``s``.

    ``log p = logsumexp_m log_sigmoid(s_m) - log M`` (and the same with ``-s`` for
    ``1 - p``); the gradient is
    ``-(y w_m (1 - sigmoid(s_m)) - (1 - y) v_m sigmoid(s_m)) / (N C)`` with member
    weights ``w = softmax_m log_sigmoid(s_m)`` and ``v = softmax_m log_sigmoid(-s_m)``.
    """
    log_m = math.log(scaled.shape[0])
    log_sig, log_sig_neg = log_expit(scaled), log_expit(-scaled)
    norm_p, norm_q = logsumexp(log_sig, axis=0), logsumexp(log_sig_neg, axis=0)
    loss = -float(np.mean(y * (norm_p - log_m) + (1.0 - y) * (norm_q - log_m)))
    w = np.exp(log_sig - norm_p)
    v = np.exp(log_sig_neg - norm_q)
    grad = -(y * w * np.exp(log_sig_neg) - (1.0 - y) * v * np.exp(log_sig)) / y.size
    return loss, grad


def ensemble_categorical_nll(scaled: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean categorical NLL of ``p = mean_m softmax(s_m)`` (one-hot ``y``) and its gradient.

    ``log p_y = logsumexp_m log_softmax(s_m)_y - log M``; the gradient is
    ``-w_m (y - softmax(s_m)) / N`` with member weights ``w = softmax_m log_softmax(s_m)_y``.
    """
    log_m = math.log(scaled.shape[0])
    log_q = log_softmax(scaled, axis=-1)
    log_qy = np.sum(log_q * y, axis=-1)
    norm = logsumexp(log_qy, axis=0)
    loss = -float(np.mean(norm - log_m))
    w = np.exp(log_qy - norm)[..., None]
    grad = -(w * (y - np.exp(log_q))) / y.shape[0]
    return loss, grad


def _minimize_bounded(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    bounds: Sequence[tuple[float, float]],
) -> np.ndarray:
    """Bounded L-BFGS (scipy's L-BFGS-B) on an objective returning (value, gradient)."""
    from scipy.optimize import minimize  # a third of a second to import: only when fitting

    result = minimize(
        objective, x0, jac=True, method="L-BFGS-B", bounds=list(bounds),
        options={"gtol": 1e-9, "ftol": 1e-13, "maxiter": 500},
    )
    return np.asarray(result.x, dtype=np.float64)


# --- MAE-vs-temperature curve (AM'23 Figure 2)


@dataclass(frozen=True)
class TemperatureCurve:
    """Calibration figures of the ensemble as a function of one shared temperature."""

    activation: str
    temperatures: tuple[float, ...]
    mae: tuple[float, ...]
    weighted_mae: tuple[float, ...]
    ece: tuple[float, ...]

    @property
    def best_temperature(self) -> float:
        """Temperature with the lowest MAE (the first one on ties)."""
        return float(self.temperatures[int(np.nanargmin(self.mae))])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "activation": self.activation,
            "temperatures": list(self.temperatures),
            "mae": list(self.mae),
            "weighted_mae": list(self.weighted_mae),
            "ece": list(self.ece),
            "best_temperature": self.best_temperature,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemperatureCurve:
        """Inverse of :meth:`to_dict`."""
        return cls(
            activation=str(data["activation"]),
            temperatures=tuple(float(v) for v in data["temperatures"]),
            mae=tuple(float(v) for v in data["mae"]),
            weighted_mae=tuple(float(v) for v in data["weighted_mae"]),
            ece=tuple(float(v) for v in data["ece"]),
        )


def mae_temperature_curve(
    member_logits: Any,
    labels: Any,
    temperatures: Sequence[float] = DEFAULT_T_GRID,
    activation: Activation = "sigmoid",
    n_buckets: int = metrics.N_BUCKETS,
) -> TemperatureCurve:
    """AM'23's MAE (and weighted MAE, ECE) of the ensemble for each shared temperature."""
    z = as_member_logits(member_logits)
    y = _check_labels(labels, z)
    mae, wmae, ece = [], [], []
    for t in temperatures:
        probs = _activate(z / float(t), activation).mean(axis=0)
        diagram = metrics.reliability_diagram(probs, y, n_buckets)
        mae.append(metrics.am23_mae(diagram))
        wmae.append(metrics.am23_weighted_mae(diagram))
        ece.append(metrics.diagram_ece(diagram))
    return TemperatureCurve(
        activation=activation,
        temperatures=tuple(float(t) for t in temperatures),
        mae=tuple(mae),
        weighted_mae=tuple(wmae),
        ece=tuple(ece),
    )


def per_class_mae_curve(
    member_logits: Any,
    labels: Any,
    temperatures: Sequence[float] = DEFAULT_T_GRID,
    n_buckets: int = metrics.N_BUCKETS,
) -> np.ndarray:
    """AM'23 MAE of each class's sigmoid ensemble for each temperature, shape (K, C)."""
    z = as_member_logits(member_logits)
    y = _check_labels(labels, z)
    out = np.empty((len(temperatures), z.shape[2]))
    for k, t in enumerate(temperatures):
        probs = expit(z / float(t)).mean(axis=0)
        diagrams = metrics.per_class_reliability(probs, y, n_buckets)
        out[k] = [metrics.am23_mae(d) for d in diagrams]
    return out


# --- scalers


class Scaler(ABC):
    """Common fit/transform interface; parameters serialise with ``to_dict``."""

    kind: ClassVar[str]
    activation: Activation = "sigmoid"

    @abstractmethod
    def fit(self, member_logits: Any, labels: Any) -> Scaler:
        """Fit the parameters on calibration-set logits and binary labels; returns self."""

    @abstractmethod
    def transform(self, member_logits: Any) -> EnsembleProbabilities:
        """Calibrated ensemble probabilities (N, C) and member spread (N, C)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters, including ``kind``."""

    @property
    @abstractmethod
    def fitted(self) -> bool:
        """Whether the parameters have been fitted or loaded."""

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise CalibrationError(f"{self.kind} calibration has not been fitted yet")


class IdentityScaler(Scaler):
    """No calibration: the raw ensemble (the "before" of every comparison)."""

    kind = "identity"

    def __init__(self, activation: Activation = "sigmoid") -> None:
        self.activation = activation

    @property
    def fitted(self) -> bool:
        return True

    def fit(self, member_logits: Any, labels: Any) -> IdentityScaler:
        _check_labels(labels, as_member_logits(member_logits))
        return self

    def transform(self, member_logits: Any) -> EnsembleProbabilities:
        return apply_temperature(member_logits, 1.0, self.activation)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "activation": self.activation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdentityScaler:
        return cls(activation=data.get("activation", "sigmoid"))


class TemperatureScaler(Scaler):
    """Temperature scaling: one T for all classes, or one T per class (sigmoid only).

    ``activation="softmax"`` is AM'23's single-label setting (one shared T);
    ``activation="sigmoid"`` serves multi-label taggers, where ``per_class=True``
    gives each class its own T. ``fit_method`` picks NLL (bounded L-BFGS) or
    AM'23's MAE grid search over ``grid``.
    """

    kind = "temperature"

    def __init__(
        self,
        activation: Activation = "sigmoid",
        per_class: bool = True,
        fit_method: FitMethod = "nll",
        bounds: tuple[float, float] = DEFAULT_T_BOUNDS,
        grid: Sequence[float] = DEFAULT_T_GRID,
        temperature: Sequence[float] | None = None,
    ) -> None:
        if activation not in ("sigmoid", "softmax"):
            raise CalibrationError(f"unknown activation {activation!r}: use 'sigmoid' or 'softmax'")
        if activation == "softmax" and per_class:
            raise CalibrationError("softmax outputs take one shared temperature (per_class=False)")
        if fit_method not in ("nll", "mae_grid"):
            raise CalibrationError(f"unknown fit method {fit_method!r}: use 'nll' or 'mae_grid'")
        if not 0 < bounds[0] < bounds[1]:
            raise CalibrationError(f"temperature bounds must satisfy 0 < low < high, got {bounds}")
        self.activation = activation
        self.per_class = per_class
        self.fit_method = fit_method
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.grid = tuple(float(t) for t in grid)
        self.temperature: np.ndarray | None = (
            None if temperature is None else np.asarray(temperature, dtype=np.float64)
        )

    @property
    def fitted(self) -> bool:
        return self.temperature is not None

    def fit(self, member_logits: Any, labels: Any) -> TemperatureScaler:
        z = as_member_logits(member_logits)
        y = _check_labels(labels, z)
        if self.activation == "softmax":
            _check_one_hot(y)
        elif self.per_class:
            _check_both_classes(y)
        n_params = z.shape[2] if self.per_class else 1
        if self.fit_method == "nll":
            self.temperature = self._fit_nll(z, y, n_params)
        elif self.per_class:
            curve = per_class_mae_curve(z, y, self.grid)
            self.temperature = np.asarray(self.grid)[np.nanargmin(curve, axis=0)]
        else:
            best = mae_temperature_curve(z, y, self.grid, self.activation).best_temperature
            self.temperature = np.array([best])
        return self

    def _fit_nll(self, z: np.ndarray, y: np.ndarray, n_params: int) -> np.ndarray:
        nll = ensemble_binary_nll if self.activation == "sigmoid" else ensemble_categorical_nll

        def objective(log_t: np.ndarray) -> tuple[float, np.ndarray]:
            scaled = z / np.exp(log_t)
            loss, grad_s = nll(scaled, y)
            grad = -np.sum(grad_s * scaled, axis=(0, 1))  # d s / d log T = -s
            return loss, grad if n_params > 1 else np.array([grad.sum()])

        low, high = math.log(self.bounds[0]), math.log(self.bounds[1])
        log_t = _minimize_bounded(objective, np.zeros(n_params), [(low, high)] * n_params)
        return np.exp(log_t)

    def transform(self, member_logits: Any) -> EnsembleProbabilities:
        self._require_fitted()
        assert self.temperature is not None
        z = as_member_logits(member_logits)
        if self.temperature.size not in (1, z.shape[2]):
            raise CalibrationError(
                f"calibration has {self.temperature.size} temperatures but logits have "
                f"{z.shape[2]} classes"
            )
        return _ensemble(_activate(z / self.temperature, self.activation))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "activation": self.activation,
            "per_class": self.per_class,
            "fit_method": self.fit_method,
            "bounds": list(self.bounds),
            "grid": list(self.grid),
            "temperature": None if self.temperature is None else self.temperature.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemperatureScaler:
        return cls(
            activation=data.get("activation", "sigmoid"),
            per_class=bool(data.get("per_class", True)),
            fit_method=data.get("fit_method", "nll"),
            bounds=tuple(data.get("bounds", DEFAULT_T_BOUNDS)),  # type: ignore[arg-type]
            grid=data.get("grid", DEFAULT_T_GRID),
            temperature=data.get("temperature"),
        )


class PlattScaler(Scaler):
    """Platt scaling per class for sigmoid outputs: ``p = sigmoid(a * z + b)``.

    Fitted by NLL with bounded L-BFGS; ``a`` is kept positive so the map stays
    monotone (a calibration may not reorder tracks).
    """

    kind = "platt"
    A_BOUNDS = (1e-3, 100.0)
    B_BOUNDS = (-30.0, 30.0)

    def __init__(self, a: Sequence[float] | None = None, b: Sequence[float] | None = None) -> None:
        self.activation = "sigmoid"
        self.a = None if a is None else np.asarray(a, dtype=np.float64)
        self.b = None if b is None else np.asarray(b, dtype=np.float64)

    @property
    def fitted(self) -> bool:
        return self.a is not None and self.b is not None

    def fit(self, member_logits: Any, labels: Any) -> PlattScaler:
        z = as_member_logits(member_logits)
        y = _check_labels(labels, z)
        _check_both_classes(y)
        n = z.shape[2]

        def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grad_s = ensemble_binary_nll(z * params[:n] + params[n:], y)
            grad = np.concatenate([np.sum(grad_s * z, axis=(0, 1)), np.sum(grad_s, axis=(0, 1))])
            return loss, grad

        x0 = np.concatenate([np.ones(n), np.zeros(n)])
        x = _minimize_bounded(objective, x0, [self.A_BOUNDS] * n + [self.B_BOUNDS] * n)
        self.a, self.b = x[:n], x[n:]
        return self

    def transform(self, member_logits: Any) -> EnsembleProbabilities:
        self._require_fitted()
        assert self.a is not None and self.b is not None
        z = as_member_logits(member_logits)
        if self.a.size != z.shape[2]:
            raise CalibrationError(
                f"calibration has {self.a.size} classes but logits have {z.shape[2]}"
            )
        return _ensemble(expit(z * self.a + self.b))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "a": None if self.a is None else self.a.tolist(),
            "b": None if self.b is None else self.b.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlattScaler:
        return cls(a=data.get("a"), b=data.get("b"))


def isotonic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit of y on x (pool adjacent violators).

    Returns the knots ``(xs, ys)`` of a piecewise-linear map: each pooled block
    contributes its first and last x at the block's mean y. Equal x values are
    averaged first, so the map is a function of x.
    """
    xu, inverse = np.unique(np.asarray(x, dtype=np.float64), return_inverse=True)
    weight = np.bincount(inverse).astype(np.float64)
    mean = np.bincount(inverse, weights=np.asarray(y, dtype=np.float64)) / weight
    # blocks as parallel stacks: value, weight, first index, last index
    values: list[float] = []
    weights: list[float] = []
    starts: list[int] = []
    ends: list[int] = []
    for i in range(xu.size):
        values.append(float(mean[i]))
        weights.append(float(weight[i]))
        starts.append(i)
        ends.append(i)
        while len(values) > 1 and values[-2] >= values[-1]:
            w = weights[-2] + weights[-1]
            v = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
            values[-2:] = [v]
            weights[-2:] = [w]
            starts.pop()
            ends[-2:] = [ends[-1]]
    xs: list[float] = []
    ys: list[float] = []
    for v, s, e in zip(values, starts, ends, strict=True):
        xs.append(float(xu[s]))
        ys.append(v)
        if e != s:
            xs.append(float(xu[e]))
            ys.append(v)
    return np.asarray(xs), np.asarray(ys)


class IsotonicScaler(Scaler):
    """Isotonic regression per class on the averaged sigmoid probability (optional method).

    Flexible but needs more labels than temperature scaling and is flat between
    knots; applied as average-then-calibrate (see the module docstring).
    """

    kind = "isotonic"

    def __init__(
        self, knots: Sequence[tuple[Sequence[float], Sequence[float]]] | None = None
    ) -> None:
        self.activation = "sigmoid"
        self.knots: list[tuple[np.ndarray, np.ndarray]] | None = None
        if knots is not None:
            self.knots = [(np.asarray(x, np.float64), np.asarray(y, np.float64)) for x, y in knots]

    @property
    def fitted(self) -> bool:
        return self.knots is not None

    def fit(self, member_logits: Any, labels: Any) -> IsotonicScaler:
        z = as_member_logits(member_logits)
        y = _check_labels(labels, z)
        _check_both_classes(y)
        raw = expit(z).mean(axis=0)
        self.knots = [isotonic_fit(raw[:, c], y[:, c]) for c in range(z.shape[2])]
        return self

    def _map(self, probs: np.ndarray) -> np.ndarray:
        assert self.knots is not None
        out = np.empty_like(probs)
        for c, (xs, ys) in enumerate(self.knots):
            out[..., c] = np.interp(probs[..., c], xs, ys)
        return out

    def transform(self, member_logits: Any) -> EnsembleProbabilities:
        self._require_fitted()
        assert self.knots is not None
        z = as_member_logits(member_logits)
        if len(self.knots) != z.shape[2]:
            raise CalibrationError(
                f"calibration has {len(self.knots)} classes but logits have {z.shape[2]}"
            )
        member_probs = expit(z)
        return EnsembleProbabilities(
            mean=self._map(member_probs.mean(axis=0)), std=self._map(member_probs).std(axis=0)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "knots": None
            if self.knots is None
            else [[xs.tolist(), ys.tolist()] for xs, ys in self.knots],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsotonicScaler:
        knots = data.get("knots")
        return cls(knots=None if knots is None else [(k[0], k[1]) for k in knots])


SCALERS: dict[str, type[Scaler]] = {
    cls.kind: cls for cls in (IdentityScaler, TemperatureScaler, PlattScaler, IsotonicScaler)
}


def scaler_from_dict(data: dict[str, Any]) -> Scaler:
    """Rebuild any scaler from its ``to_dict`` form (the ``kind`` key picks the class)."""
    kind = data.get("kind")
    if kind not in SCALERS:
        raise CalibrationError(
            f"unknown calibration kind {kind!r}: known kinds are {sorted(SCALERS)}"
        )
    return SCALERS[kind].from_dict(data)  # type: ignore[attr-defined, no-any-return]

