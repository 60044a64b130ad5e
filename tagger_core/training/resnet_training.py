"""``train resnet``: AM'23's ResNet on log-mel patches of a labelled dataset, as a deep ensemble.

Why this protocol (AM'23): each file is cut into fixed-length log-mel patches
(FMA setting: 3 s, 96 mels, window 2048, hop 710; NSynth setting: 4 s, 64
mels, window 2048, hop 1024); the network learns from single patches with
the file's labels, trained with Adam (lr 1e-3) and random spectrogram
augmentations; at test time the patch posteriors (softmax for single-label
data, sigmoid for multi-label) are averaged per file, and five networks with
different seeds are averaged into the ensemble. Validation (the dataset's
own split, or a stratified one) decides early stopping and fits the
calibration; the report is on the test files.

The network and the training loop are shared with the instrument-family
model (:mod:`tagger_core.listening.models.resnet`, :mod:`tagger_core.training.trainer`).
File-level logits are ``log`` of the averaged softmax (``softmax`` gives the
average back) or ``logit`` of the averaged sigmoid, as the analysis store keeps them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from safetensors.torch import save_file
from torch import nn

from tagger_core.errors import Cancelled, TaggerError
from tagger_core.labels.bundles import MANIFEST, BundleError
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.decode import decode
from tagger_core.listening.frontend import make_patches
from tagger_core.listening.head_runtime import TAXONOMY_FILE
from tagger_core.listening.models.resnet import AM23ResNet
from tagger_core.training.datasets import AudioDataset
from tagger_core.training.evaluation import TrainingReport, evaluate_ensemble
from tagger_core.training.head_bundle import write_identity_taxonomy
from tagger_core.training.on_device import OnDevice
from tagger_core.training.patch_dataset import PatchDataset
from tagger_core.training.spectrograms import make_frontend
from tagger_core.training.splits import Split, check_split_counts, stratified_split
from tagger_core.training.trainer import EpochRecord, TrainConfig, Trainer, TrainResult
from tagger_core.trust.scaling import Scaler

Progress = Callable[[int, int, str], None]
_EPS = 1e-7


@dataclass(frozen=True)
class PatchSetting:
    """Frontend and patch length of one of AM'23's settings."""

    name: str
    frontend: FrontendConfig
    patch_seconds: float

    @property
    def patch_frames(self) -> int:
        """Frames of one patch: what the frontend gives for ``patch_seconds`` of audio."""
        return self.frontend.n_frames(int(round(self.patch_seconds * self.frontend.sr)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "frontend": self.frontend.to_dict(),
                "patch_seconds": self.patch_seconds}  # fmt: skip


SETTINGS: dict[str, PatchSetting] = {
    "fma": PatchSetting("fma", FrontendConfig.fma(), 3.0),
    "nsynth": PatchSetting("nsynth", FrontendConfig.am23_resnet(), 4.0),
}


@dataclass
class PatchSet:
    """Patches of many files: ``patches [P, frames, bands]`` and the file of each patch."""

    patches: np.ndarray
    file_index: np.ndarray
    n_files: int


def extract_patches(
    paths: Sequence[Path],
    setting: PatchSetting,
    *,
    scale: str = "mel",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> PatchSet:
    """Decode each file at the setting's rate, compute its spectrogram, cut whole patches.

    Files shorter than one patch are repeat-padded to one patch
    (:func:`tagger_core.listening.frontend.make_patches`).
    """
    frontend = make_frontend(setting.frontend, scale)
    frames = setting.patch_frames
    chunks, owners = [], []
    for i, path in enumerate(paths):
        if cancel is not None and cancel.is_set():
            raise Cancelled("feature extraction cancelled")
        audio = decode(path, sr=setting.frontend.sr)
        with torch.no_grad():
            spec = frontend(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
        patches = make_patches(spec, frames).numpy()
        if len(patches) == 0:
            raise TaggerError(f"{path}: no audio to cut into patches")
        chunks.append(patches.astype(np.float32))
        owners.append(np.full(len(patches), i, dtype=np.int64))
        if progress:
            progress(i + 1, len(paths), f"spectrograms {i + 1}/{len(paths)}")
    bands = setting.frontend.n_mels
    return PatchSet(
        patches=np.concatenate(chunks) if chunks else np.zeros((0, frames, bands), np.float32),
        file_index=np.concatenate(owners) if owners else np.zeros(0, np.int64),
        n_files=len(paths),
    )


@dataclass(frozen=True)
class ResNetConfig:
    """Training settings of the ResNet ensemble (defaults: AM'23)."""

    n_members: int = 5
    epochs: int = 100
    patience: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    channels: tuple[int, ...] = (32, 64, 144)
    dropout: float = 0.2
    augment: bool = True
    activation: str = "auto"  # "softmax" for single-label data, "sigmoid" for multi-label
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["channels"] = list(self.channels)
        return out


def _logits(out: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    """The logits of a model output (a tensor, or the ``{"logits", ...}`` mapping)."""
    return out["logits"] if isinstance(out, dict) else out


def _loss_fn(activation: str) -> Callable[[Any, torch.Tensor], torch.Tensor]:
    def softmax_loss(out: Any, target: torch.Tensor) -> torch.Tensor:
        logits = _logits(out)
        target = target.to(logits.device)
        target = target / target.sum(dim=1, keepdim=True).clamp_min(1.0)  # mixed clips: split
        return F.cross_entropy(logits, target)

    def sigmoid_loss(out: Any, target: torch.Tensor) -> torch.Tensor:
        logits = _logits(out)
        return F.binary_cross_entropy_with_logits(logits, target.to(logits.device))

    return softmax_loss if activation == "softmax" else sigmoid_loss


def build_resnet(n_classes: int, n_bands: int, config: ResNetConfig) -> AM23ResNet:
    """A fresh AM'23 ResNet for ``n_classes`` and ``n_bands`` spectrogram bands."""
    return AM23ResNet(n_classes, n_mels=n_bands, channels=config.channels, dropout=config.dropout)


def _key(config: ResNetConfig, train: PatchSet, val: PatchSet) -> str:
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for arr in (train.patches[:64], val.patches[:64], train.file_index, val.file_index):
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()[:16]


def train_resnet_ensemble(
    train: PatchSet,
    y_train: np.ndarray,
    val: PatchSet,
    y_val: np.ndarray,
    config: ResNetConfig,
    activation: str,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    checkpoint_dir: str | Path | None = None,
) -> tuple[list[nn.Module], list[TrainResult]]:
    """Train ``config.n_members`` ResNets (seed ``seed + m``) on patches; best weights each.

    Every epoch of every member is checkpointed in ``checkpoint_dir`` (the shared
    trainer's format), so a cancelled or killed run resumes where it stopped.
    """
    device = torch.device(device)
    n_classes, bands = y_train.shape[1], train.patches.shape[2]
    frames = train.patches.shape[1]
    train_data = PatchDataset(train.patches, y_train[train.file_index], frames,
                              augment=config.augment, seed=config.seed)  # fmt: skip
    val_data = PatchDataset(val.patches, y_val[val.file_index], frames, augment=False)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    if ckpt:
        ckpt.mkdir(parents=True, exist_ok=True)
    key = _key(config, train, val)
    models, results = [], []
    total = config.n_members * config.epochs
    for m in range(config.n_members):
        seed = config.seed + m
        torch.manual_seed(seed)
        model = OnDevice(build_resnet(n_classes, bands, config), device)
        path = str(ckpt / f"resnet_{key}_member_{m}.pt") if ckpt else None
        train_cfg = TrainConfig(
            epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=seed,
            patience=config.patience, threads=config.threads, checkpoint=path,
        )  # fmt: skip
        trainer = Trainer(model, _loss_fn(activation), train_cfg)

        def on_epoch(record: EpochRecord, epochs: int, m: int = m) -> None:
            if progress:
                progress(m * config.epochs + record.epoch, total,
                         f"member {m + 1}/{config.n_members} epoch {record.epoch} "
                         f"val loss {record.val_loss:.4f}")  # fmt: skip

        def should_stop() -> bool:
            return cancel is not None and cancel.is_set()

        result = trainer.fit(train_data, val_data, progress=on_epoch, cancel=should_stop)
        models.append(model.inner.cpu().eval())
        results.append(result)
        if progress:
            progress((m + 1) * config.epochs, total, f"member {m + 1}/{config.n_members} done")
    return models, results


@torch.no_grad()
def file_member_logits(
    models: Sequence[nn.Module], patches: PatchSet, activation: str, batch_size: int = 256
) -> np.ndarray:
    """Per-file logits of every member ``(members, files, C)``: patch posteriors averaged."""
    x = torch.from_numpy(patches.patches)
    counts = np.bincount(patches.file_index, minlength=patches.n_files).astype(np.float64)
    out = []
    for model in models:
        model.eval()
        logits = torch.cat(
            [_logits(model(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        )
        probs = torch.softmax(logits, 1) if activation == "softmax" else torch.sigmoid(logits)
        sums = np.zeros((patches.n_files, probs.shape[1]))
        np.add.at(sums, patches.file_index, probs.double().numpy())
        mean = np.clip(sums / counts[:, None], _EPS, 1 - _EPS)
        out.append(np.log(mean) if activation == "softmax" else np.log(mean) - np.log1p(-mean))
    return np.stack(out)


@dataclass
class ResNetRun:
    """A trained ResNet ensemble, its calibration, test report and the files of each part."""

    models: list[nn.Module]
    results: list[TrainResult]
    scaler: Scaler
    report: TrainingReport
    split: Split
    classes: tuple[str, ...]
    activation: str
    setting: PatchSetting
    config: ResNetConfig
    extra: dict[str, Any] = field(default_factory=dict)


def dataset_split(dataset: AudioDataset, seed: int = 0) -> Split:
    """The dataset's own train/val/test split, or a stratified 60/20/20 one."""
    if dataset.has_split:
        parts = dataset.split_indices()
        return Split(parts["train"], parts["val"], parts["test"])
    return stratified_split(dataset.label_matrix(), seed=seed)


def run_resnet_training(
    dataset: AudioDataset,
    setting: PatchSetting,
    config: ResNetConfig,
    *,
    calibration: str = "temperature",
    scale: str = "mel",
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    checkpoint_dir: str | Path | None = None,
    split: Split | None = None,
) -> ResNetRun:
    """Split, extract patches, train the ensemble, calibrate on val, report on test."""
    y = dataset.label_matrix()
    split = split if split is not None else dataset_split(dataset, config.seed)
    check_split_counts(y, split, dataset.classes)
    activation = config.activation
    if activation == "auto":
        activation = "sigmoid" if dataset.multi_label else "softmax"
    paths = [item.path for item in dataset.items]
    parts = {
        name: extract_patches(
            [paths[i] for i in split.part(name)],
            setting,
            scale=scale,
            progress=progress,
            cancel=cancel,
        )  # fmt: skip
        for name in ("train", "val", "test")
    }
    models, results = train_resnet_ensemble(
        parts["train"], y[split.train], parts["val"], y[split.val], config, activation,
        device=device, progress=progress, cancel=cancel, checkpoint_dir=checkpoint_dir,
    )  # fmt: skip
    report, scaler = evaluate_ensemble(
        file_member_logits(models, parts["val"], activation), y[split.val],
        file_member_logits(models, parts["test"], activation), y[split.test],
        dataset.classes, calibration, activation, train_labels=y[split.train],  # type: ignore[arg-type]
    )  # fmt: skip
    report.extra["best_epochs"] = [r.best_epoch for r in results]
    report.extra["patches"] = {k: int(len(v.patches)) for k, v in parts.items()}
    return ResNetRun(models, results, scaler, report, split, dataset.classes, activation,
                     setting, config)  # fmt: skip


def save_resnet_bundle(
    run: ResNetRun, directory: str | Path, *, bundle_id: str, task: str, version: str = "1.0.0"
) -> Path:
    """Write the ensemble as a bundle (architecture ``am23_resnet``) with its calibration."""
    out = Path(directory)
    if (out / MANIFEST).exists():
        raise BundleError(f"{out} already holds a bundle; choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    params = {"n_classes": len(run.classes), "n_mels": run.setting.frontend.n_mels,
              "channels": list(run.config.channels), "dropout": run.config.dropout}  # fmt: skip
    members = []
    for m, model in enumerate(run.models):
        weights = out / f"resnet_{m}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
        members.append({
            "name": f"resnet_{m}", "architecture": "am23_resnet", "params": params,
            "weights": weights.name,
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "embedding_dim": run.config.channels[-1], "seed": run.config.seed + m,
            "best_epoch": run.results[m].best_epoch,
        })  # fmt: skip
    write_identity_taxonomy(out / TAXONOMY_FILE, task, run.classes)
    (out / "LICENSE.txt").write_text(
        "Weights trained by the user of Music Archive Tagger; they inherit the terms of "
        "the dataset they were trained on.\n", encoding="utf-8",
    )  # fmt: skip
    manifest = {
        "format": 1, "id": bundle_id, "version": version, "task": task,
        "description": f"AM'23 ResNet ensemble ({run.setting.name} setting), user-trained",
        "raw_labels": list(run.classes),
        "preprocessing": run.setting.frontend.to_dict(),
        "patch_frames": run.setting.patch_frames,
        "patch_hop_frames": run.setting.patch_frames,
        "taxonomy_file": TAXONOMY_FILE,
        "output": {"activation": run.activation},
        "members": members,
        "calibration": run.scaler.to_dict(),
        "licence": {"name": "user-trained", "file": "LICENSE.txt", "attribution": ""},
        "provenance": {
            "trained_by": "music-tagger train resnet", "setting": run.setting.to_dict(),
            "config": run.config.to_dict(),
            "test_macro_after": run.report.after.classification.macro(),
            "test_calibration_after": run.report.after.calibration.to_dict(),
        },
    }  # fmt: skip
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return out
