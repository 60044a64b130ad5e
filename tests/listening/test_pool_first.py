"""The musicnn and VGG rewrites give the originals' outputs, whatever the batch-norm signs
and however low-rank the filters."""

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
    assert fast_variant(torch.nn.Linear(3, 2)) is None


def test_a_full_rank_vgg_is_pooled_first_without_factorising() -> None:
    gen = torch.Generator().manual_seed(4)
    model = MusicnnVGG(n_classes=4, num_filters=16)
    with torch.no_grad():
        for bn in model.bns:
            bn.weight.normal_(generator=gen)
    fast = fast_variant(model)
    assert [type(block.conv).__name__ for block in fast.blocks] == ["Conv2d"] * 5
    x = torch.rand(2, 187, 96, generator=gen) * 3
    with torch.inference_mode():
        want, got = model(x), fast(x)
    torch.testing.assert_close(got["logits"], want["logits"], atol=1e-5, rtol=1e-5)


def test_vgg_pooled_first_with_a_low_rank_convolution_matches_the_original() -> None:
    gen = torch.Generator().manual_seed(2)
    model = MusicnnVGG(n_classes=5, num_filters=48)
    with torch.no_grad():
        for bn in model.bns:
            bn.weight.normal_(generator=gen)  # mixed signs: min pools too
            bn.running_mean.normal_(generator=gen)
            bn.running_var.uniform_(0.2, 3.0, generator=gen)
    _low_rank_(model.convs[2], 6, gen)  # 48 filters of 48 x 3 x 3 spanning 6 dimensions
    fast = fast_variant(model)
    assert fast is not None
    kinds = [type(block.conv).__name__ for block in fast.blocks]
    assert kinds == ["Conv2d", "Conv2d", "Sequential", "Conv2d", "Conv2d"]
    x = torch.rand(3, 187, 96, generator=gen) * 3
    with torch.inference_mode():
        want, got = model(x), fast(x)
    for key in ("logits", "embedding"):
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-5)


def _low_rank_(conv: torch.nn.Conv2d, rank: int, generator: torch.Generator) -> None:
    filters = conv.weight.shape[0]
    left = torch.randn(filters, rank, generator=generator)
    right = torch.randn(rank, conv.weight[0].numel(), generator=generator)
    with torch.no_grad():
        conv.weight.copy_((left @ right).reshape(conv.weight.shape) / rank)


def test_low_rank_filters_are_factorised_with_the_same_outputs() -> None:
    gen = torch.Generator().manual_seed(1)
    model = Musicnn(n_classes=7, num_filt_frontend=0.5, num_filt_midend=8, num_units_backend=10)
    with torch.no_grad():
        for block in (*model.timbral, *model.temporal):
            block.bn.weight.normal_(generator=gen)  # mixed signs: the min path too
    _low_rank_(model.timbral[0].conv, 5, gen)  # 64 filters of 7 x 38 spanning 5 dimensions
    _low_rank_(model.timbral[1].conv, 3, gen)
    fast = fast_variant(model)
    kinds = [type(branch.conv).__name__ for branch in fast.branches]
    assert kinds[:2] == ["Sequential", "Sequential"]  # the low-rank ones
    assert fast.branches[0].conv[0].out_channels == 16  # rank 5, rounded up to a block
    assert kinds[2] == "Conv2d"  # random 16 x 128 temporal filters: full rank, kept
    x = torch.rand(4, 70, 96, generator=gen) * 3
    with torch.inference_mode():
        want, got = model(x), fast(x)
    for key in ("logits", "embedding", "max_pool", "mean_pool"):
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-5)


def test_shipped_msd_musicnn_front_end_is_low_rank_and_rewritten_exactly() -> None:
    from tagger_core.labels.bundles import load_bundle
    from tagger_core.listening.ensembles import check_sample
    from tagger_core.listening.weights import load_members

    bundle = load_bundle("genre")
    model = load_members(bundle)[bundle.member_names.index("MSD_musicnn")]
    fast = fast_variant(model)
    ranks = [b.conv[0].out_channels if len(list(b.conv.children())) else None
             for b in fast.branches]  # fmt: skip
    assert ranks[:4] == [32, 16, 16, 16]  # 23, 14, 3, 7 dimensions, rounded up to 16s
    x = torch.from_numpy(check_sample(bundle))
    with torch.inference_mode():
        want, got = model(x), fast(x)
    for key in ("logits", "embedding"):
        torch.testing.assert_close(got[key], want[key], atol=2e-5, rtol=1e-5)
