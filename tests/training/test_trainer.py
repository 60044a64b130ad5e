from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from tagger_core.errors import Cancelled, TaggerError
from tagger_core.training.trainer import TrainConfig, Trainer, TrainingCancelled


def _data(seed: int, n: int = 96) -> TensorDataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, :2] > 0).astype(np.float32)  # two labels, each set by one input
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))


LOSS = nn.functional.binary_cross_entropy_with_logits


def _fit(config: TrainConfig, **kw):
    model = _model()
    result = Trainer(model, LOSS, config).fit(_data(0), _data(1), **kw)
    return model, result


def test_learns_and_reports_each_epoch():
    seen = []
    _, result = _fit(TrainConfig(epochs=6, batch_size=16, lr=0.02, threads=1),
                     progress=lambda rec, total: seen.append((rec.epoch, total)))  # fmt: skip
    assert seen == [(e, 6) for e in range(1, 7)]
    assert result.history[-1].val_loss < result.history[0].val_loss
    assert result.best_val_loss == min(r.val_loss for r in result.history)


def test_same_seed_same_weights_and_other_seed_differs():
    cfg = TrainConfig(epochs=3, batch_size=16, seed=3, threads=1)
    a, _ = _fit(cfg)
    b, _ = _fit(cfg)
    c, _ = _fit(TrainConfig(epochs=3, batch_size=16, seed=4, threads=1))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    pairs = zip(a.parameters(), c.parameters(), strict=True)
    assert any(not torch.equal(pa, pc) for pa, pc in pairs)


def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path):
    full, full_result = _fit(TrainConfig(epochs=4, batch_size=16, threads=1, patience=10))
    ckpt = str(tmp_path / "run.pt")
    _fit(TrainConfig(epochs=2, batch_size=16, threads=1, patience=10, checkpoint=ckpt))
    resumed, result = _fit(TrainConfig(epochs=4, batch_size=16, threads=1, patience=10,
                                       checkpoint=ckpt))  # fmt: skip
    assert result.resumed_from == 2
    assert [r.epoch for r in result.history] == [1, 2, 3, 4]
    assert result.best_epoch == full_result.best_epoch
    for pa, pb in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(pa, pb)


def test_checkpoint_with_other_settings_is_refused(tmp_path):
    ckpt = str(tmp_path / "run.pt")
    _fit(TrainConfig(epochs=1, batch_size=16, threads=1, checkpoint=ckpt))
    with pytest.raises(TaggerError, match="other training settings"):
        _fit(TrainConfig(epochs=2, batch_size=16, lr=0.5, threads=1, checkpoint=ckpt))


def test_early_stopping_keeps_the_best_weights():
    # a learning rate this large diverges after the first epochs
    model, result = _fit(TrainConfig(epochs=40, batch_size=8, lr=5.0, patience=2, threads=1))
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 2
    val = _data(1)
    with torch.no_grad():
        loss = float(LOSS(model(val.tensors[0]), val.tensors[1]))
    assert loss == pytest.approx(result.best_val_loss, rel=1e-5)


def test_cancel_raises_a_cancelled_error():
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(TrainingCancelled) as info:
        _fit(TrainConfig(epochs=5, batch_size=16, threads=1), cancel=cancel)
    assert isinstance(info.value, Cancelled)


def test_bad_settings_are_user_errors():
    with pytest.raises(TaggerError):
        Trainer(_model(), LOSS, TrainConfig(epochs=0))


def test_loader_workers_give_the_same_weights_as_the_main_process():
    """Augmentation randomness derives from (seed, epoch, index), not from the process."""
    from tagger_core.training.patch_dataset import PatchDataset

    rng = np.random.default_rng(2)
    x = rng.uniform(0, 3, size=(40, 20, 8)).astype(np.float16)
    y = (rng.random((40, 3)) < 0.4).astype(np.uint8)

    def fit(workers: int) -> nn.Module:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(16 * 8, 3))
        cfg = TrainConfig(epochs=2, batch_size=8, seed=1, threads=1, workers=workers)
        Trainer(model, LOSS, cfg).fit(PatchDataset(x, y, 16, augment=True, seed=1),
                                      PatchDataset(x, y, 16))  # fmt: skip
        return model

    a, b = fit(0), fit(2)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (runs on a GPU machine)")
def test_training_on_cuda_returns_a_cpu_model_close_to_cpu_training():
    cpu, cpu_result = _fit(TrainConfig(epochs=3, batch_size=16, threads=1))
    gpu, gpu_result = _fit(TrainConfig(epochs=3, batch_size=16, threads=1, device="cuda"))
    assert all(p.device.type == "cpu" for p in gpu.parameters())
    assert gpu_result.best_val_loss == pytest.approx(cpu_result.best_val_loss, rel=0.05)
