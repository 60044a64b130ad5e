"""Distil a default ensemble into one small, fast student (the ``--profile fast`` bundles).

Why: per patch the musicnn/VGG members cost ~15–30 ms of CPU each, and four of them
run on every track; a first pass over a huge archive needs something one or two
orders of magnitude cheaper whose numbers still mean what the ensemble's mean.
The student is an AM'23 ResNet that sees exactly what the teacher sees (the same
log-mel patches: 96 mels, 3 s), trained to reproduce the teacher ensemble's
*probabilities*, not the original tags:

* **Targets**: for every 3-s patch of a file (every patch, or ``max_patches``
  evenly spread), the ensemble's mean member probability — exactly the quantity
  whose mean over patches is the ensemble's file-level probability in the
  analysis store.
* **Loss**: binary cross-entropy against those soft targets per patch; the
  student's file-level output is the mean of its patch probabilities, as for
  every bundle, so matching patches matches files.

(A first student on the instrument-family bundle's cheaper spectrogram — 64 mels,
hop 1024 — underfitted: training loss stayed at the validation loss, about 40 %
of the way from the teachers' own entropy to a constant prior.)

Fidelity is measured per file (:func:`fidelity`): largest and mean
``|Δp|``, agreement of the top raw tag and of the 0.5 decisions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch.utils.data import Dataset

from tagger_core.labels.bundles import Bundle
from tagger_core.listening.decode import decode
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.models.resnet import AM23ResNet
from tagger_core.listening.patch_sampling import even_indices


@dataclass
class FileTargets:
    """One file's patches (the student's inputs) and the teacher's targets for each."""

    name: str
    inputs: np.ndarray  # float16 [P, frames, mels]
    targets: dict[str, np.ndarray]  # bundle id -> float32 [P, raw labels]


def file_targets(
    path: Path,
    teachers: Sequence[tuple[Bundle, Sequence[Callable]]],
    max_patches: int | None,
    name: str | None = None,
) -> FileTargets | None:
    """Decode ``path`` once; its patches and the teachers' mean probabilities on each.

    ``teachers`` are ``(bundle, members)`` pairs sharing one frontend and layout
    (``genre`` and ``instruments``); ``members`` map float32 patch arrays to
    ``{"logits"}`` arrays (the prepared ensembles' members). None for a file with no audio.
    """
    first = teachers[0][0]
    config = first.frontend_config
    patches = cut_patches(logmel(decode(path, config.sr), config), first.patch_frames)
    if patches.shape[0] == 0:
        return None
    if max_patches is not None and patches.shape[0] > max_patches:
        patches = patches[even_indices(patches.shape[0], max_patches)]
    targets: dict[str, np.ndarray] = {}
    for bundle, members in teachers:
        probs = [1.0 / (1.0 + np.exp(-m(patches)["logits"].astype(np.float64))) for m in members]
        targets[bundle.id] = np.mean(probs, axis=0).astype(np.float32)
    return FileTargets(name or path.name, patches.astype(np.float16), targets)


def save_targets(files: Iterable[FileTargets], out: Path, meta: dict) -> dict:
    """Write one ``.npz`` of every file's rows (``file_index`` says which file) atomically."""
    files = list(files)
    if not files:
        raise ValueError("no files to save")
    arrays: dict[str, np.ndarray] = {
        "inputs": np.concatenate([f.inputs for f in files]),
        "file_index": np.concatenate(
            [np.full(len(f.inputs), i, dtype=np.int32) for i, f in enumerate(files)]
        ),
        "names": np.array([f.name for f in files]),
    }
    for bundle_id in files[0].targets:
        arrays[f"targets_{bundle_id}"] = np.concatenate([f.targets[bundle_id] for f in files])
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, **arrays, meta=np.array(repr(meta)))
    tmp.replace(out)
    return {"files": len(files), "patches": int(len(arrays["inputs"]))}


@dataclass
class TargetSet:
    """A saved target file, in memory."""

    inputs: np.ndarray
    targets: np.ndarray  # [N, labels] of one teacher bundle
    file_index: np.ndarray
    names: np.ndarray

    @classmethod
    def load(cls, path: Path, bundle_id: str) -> TargetSet:
        with np.load(path) as z:
            return cls(z["inputs"], z[f"targets_{bundle_id}"], z["file_index"], z["names"])

    def join(self, other: TargetSet) -> TargetSet:
        offset = len(self.names)
        return TargetSet(
            np.concatenate([self.inputs, other.inputs]),
            np.concatenate([self.targets, other.targets]),
            np.concatenate([self.file_index, other.file_index + offset]),
            np.concatenate([self.names, other.names]),
        )


class PatchTargets(Dataset):
    """``(patch [frames, mels], soft targets)``; in training, a random shift of ≤ ``jitter`` frames.

    The shift rolls the patch in time (the teacher saw the same seconds give or
    take 16 ms per frame): a little robustness to where the patch grid falls.
    """

    def __init__(self, data: TargetSet, jitter: int = 0, seed: int = 0) -> None:
        self.data, self.jitter = data, jitter
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.data.inputs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.data.inputs[i].astype(np.float32)
        if self.jitter:
            x = np.roll(x, int(self.rng.integers(-self.jitter, self.jitter + 1)), axis=0)
        return torch.from_numpy(x), torch.from_numpy(self.data.targets[i])


def soft_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy against the teacher's probabilities (mean over labels)."""
    return F.binary_cross_entropy_with_logits(logits, targets)


def build_student(n_classes: int, n_mels: int, params: dict) -> AM23ResNet:
    return AM23ResNet(n_classes=n_classes, n_mels=n_mels, **params)


def patch_probabilities(model: torch.nn.Module, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    """The student's sigmoid outputs per patch, in eval mode."""
    model.eval()
    out = []
    with torch.inference_mode():
        for s in range(0, len(inputs), batch):
            x = torch.from_numpy(inputs[s : s + batch].astype(np.float32))
            out.append(torch.sigmoid(model(x)["logits"]).numpy())
    return np.concatenate(out)


def file_means(values: np.ndarray, file_index: np.ndarray) -> np.ndarray:
    """Mean of ``values`` rows per file (files ``0..max``)."""
    n = int(file_index.max()) + 1
    sums = np.zeros((n, values.shape[1]))
    np.add.at(sums, file_index, values)
    counts = np.bincount(file_index, minlength=n)[:, None]
    return sums / np.maximum(counts, 1)


def fidelity(student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    """How closely file-level probabilities ``[files, labels]`` follow the teacher's."""
    diff = np.abs(student - teacher)
    top_agree = np.mean(student.argmax(1) == teacher.argmax(1))
    decisions = np.mean((student >= 0.5) == (teacher >= 0.5))
    files_same_decisions = np.mean(((student >= 0.5) == (teacher >= 0.5)).all(1))
    rank = [_spearman(s, t) for s, t in zip(student, teacher, strict=True)]
    return {
        "files": int(len(student)),
        "max_abs_dp": float(diff.max()),
        "mean_abs_dp": float(diff.mean()),
        "p95_abs_dp": float(np.quantile(diff, 0.95)),
        "top1_agreement": float(top_agree),
        "decision_agreement": float(decisions),
        "files_with_identical_decisions": float(files_same_decisions),
        "mean_spearman_per_file": float(np.mean(rank)),
    }


def label_probabilities(raw: np.ndarray, bundle: Bundle) -> np.ndarray:
    """File-level raw-tag probabilities → the bundle's taxonomy labels (as ``tag`` shows them)."""
    from tagger_core.labels.bundles import combined_taxonomy

    bound = combined_taxonomy(bundle.task, [bundle])
    clipped = np.clip(raw, 1e-7, 1 - 1e-7)
    label_logits = np.asarray(bound.label_logits(np.log(clipped) - np.log1p(-clipped)))
    return 1.0 / (1.0 + np.exp(-label_logits))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    c = np.corrcoef(ra, rb)[0, 1]
    return 0.0 if math.isnan(c) else float(c)
