"""The musicnn rewrite gives the original's outputs, whatever the batch-norm signs."""

from __future__ import annotations

import torch

from tagger_core.listening.models import Musicnn, MusicnnVGG
from tagger_core.listening.models.pool_first import FastMusicnn, fast_variant


def test_fast_musicnn_matches_the_original_with_mixed_sign_batch_norms() -> None:
    torch.manual_seed(0)
    model = Musicnn(n_classes=7, num_filt_frontend=0.25, num_filt_midend=8, num_units_backend=10)
    with torch.no_grad():
        for block in (*model.timbral, *model.temporal):
            block.bn.weight.normal_()  # about half the scales negative
            block.bn.running_mean.normal_()
            block.bn.running_var.uniform_(0.2, 3.0)
    assert any((b.bn.weight < 0).any() for b in model.temporal)
    fast = fast_variant(model)
    assert isinstance(fast, FastMusicnn)
    x = torch.rand(3, 60, 96) * 3
    with torch.inference_mode():
        want, got = model(x), fast(x)
    for key in ("logits", "embedding", "max_pool", "mean_pool"):
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-5)


def test_unknown_architectures_have_no_rewrite() -> None:
    assert fast_variant(MusicnnVGG(n_classes=3, num_filters=2)) is None
