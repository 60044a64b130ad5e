"""Which cheaper form each member may run in: the offline verdicts in ``fast_forms.json``.

Why offline: an approximate form (int8 convolutions) is only acceptable when
it keeps what the member says — file-level probabilities, top labels, 0.5
decisions and calibration — on a fixed check set of music-like audio. That
check takes minutes, so ``tools/check_fast_members.py`` makes it once per
bundle version and writes the verdict, its figures and the form's frozen
parameters next to the weights; the engine only reads it. A member with no
verdict, a ``rejected`` one, or one made for other weights stays float32.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger_core.labels.bundles import Bundle

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

FAST_FORMS_FILE = "fast_forms.json"
FORMAT = 1
#: the reference form, and the approximate forms the engine knows how to build
FLOAT32 = "float32"
INT8 = "int8"
FLOAT16 = "float16"  # CUDA autocast, checked at start-up by the engine instead
APPROXIMATE_FORMS = (INT8,)


@dataclass(frozen=True)
class FormVerdict:
    """One approximate form of one member, as the offline check judged it."""

    member: str
    form: str
    accepted: bool
    reasons: tuple[str, ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def verdict_path(bundle: Bundle) -> Path:
    return bundle.path / FAST_FORMS_FILE


def verdict_stamp(bundle: Bundle) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of the verdict file, so a rewritten verdict is noticed by caches."""
    try:
        st = verdict_path(bundle).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def read_verdicts(bundle: Bundle) -> dict[str, FormVerdict]:
    """Verdicts per member name that apply to this bundle's current version and weights.

    A missing or unreadable file means no fast forms (logged, never fatal);
    a verdict for another bundle version or other weights (sha256) is ignored.
    """
    path = verdict_path(bundle)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("version") != bundle.version:
            log.info("%s is for another bundle version; members stay float32", path)
            return {}
        shas = {m.name: m.sha256 for m in bundle.members}
        out: dict[str, FormVerdict] = {}
        for name, entry in data["members"].items():
            if name not in shas or (shas[name] and entry.get("weights_sha256") != shas[name]):
                continue
            for form in APPROXIMATE_FORMS:
                v = entry.get("forms", {}).get(form)
                if v is None:
                    continue
                out[name] = FormVerdict(
                    member=name,
                    form=form,
                    accepted=v["verdict"] == "accepted",
                    reasons=tuple(v.get("reasons", ())),
                    figures=dict(v.get("figures", {})),
                    params=dict(v.get("params", {})),
                )
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        log.warning("ignoring %s: %s", path, err)
        return {}


def build_form(model: nn.Module, verdict: FormVerdict) -> nn.Module:
    """``model`` in the form ``verdict`` describes (raises when it cannot be built here)."""
    if verdict.form == INT8:
        from tagger_core.listening.int8_convs import with_int8_convs  # noqa: PLC0415 - torch

        return with_int8_convs(model, verdict.params["qparams"])
    raise ValueError(f"unknown member form {verdict.form!r}")


def form_runs_here(form: str, device_type: str) -> bool:
    """Whether ``form`` can run on this device type with this torch build."""
    if form != INT8 or device_type != "cpu":
        return False
    from tagger_core.listening.int8_convs import int8_available  # noqa: PLC0415 - torch

    return int8_available()


def fast_member(
    model: nn.Module, verdict: FormVerdict | None, device_type: str
) -> tuple[nn.Module, str]:
    """The member to run and its form name: the accepted fast form, else ``model`` (float32)."""
    if verdict is None or not verdict.accepted or not form_runs_here(verdict.form, device_type):
        return model, FLOAT32
    try:
        return build_form(model, verdict), verdict.form
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as err:
        log.warning("member %s stays float32: %s", verdict.member, err)
        return model, FLOAT32


__all__ = [
    "APPROXIMATE_FORMS",
    "FAST_FORMS_FILE",
    "FLOAT16",
    "FLOAT32",
    "INT8",
    "FormVerdict",
    "build_form",
    "fast_member",
    "form_runs_here",
    "read_verdicts",
    "verdict_path",
    "verdict_stamp",
]
